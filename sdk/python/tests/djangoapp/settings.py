"""A minimal Django project for the middleware tests; the actas address
and keys come from the environment the test sets."""

import os

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "djangoapp.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
MIDDLEWARE = ["actas_host.django.ActasMiddleware"]

ACTAS = {
    "URL": os.environ["ACTAS_TEST_URL"],
    "APP_ID": os.environ["ACTAS_TEST_APP_ID"],
    "APP_KEY": os.environ["ACTAS_TEST_APP_KEY"],
    "COOKIE": "actas_token",
}
