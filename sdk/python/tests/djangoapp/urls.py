from django.http import HttpRequest, JsonResponse
from django.urls import path

from actas_host import ended_page
from actas_host.django import acting_required


def home(request: HttpRequest) -> JsonResponse:
    who = request.actas  # type: ignore[attr-defined]
    return JsonResponse({"who": who.agent if who else "customer"})


@acting_required
def settings(request: HttpRequest) -> JsonResponse:
    who = request.actas  # type: ignore[attr-defined]
    return JsonResponse({"agent_name": who.agent_name, "account": who.account_id, "session": who.session_id})


@acting_required
async def async_settings(request: HttpRequest) -> JsonResponse:
    who = request.actas  # type: ignore[attr-defined]
    return JsonResponse({"agent_name": who.agent_name, "account": who.account_id, "session": who.session_id})


def support_ended(request: HttpRequest) -> JsonResponse:
    page = ended_page(request.GET)
    return JsonResponse({"session": page.session, "words": page.words})


urlpatterns = [path("home", home), path("settings", settings), path("async-settings", async_settings), path("support/ended", support_ended)]
