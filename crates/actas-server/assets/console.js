/*
 * The staff console's script, written into every console page's <script>
 * by the layout (src/console/mod.rs). Its SHA-256 is the page's CSP
 * `script-src`, computed at build time (build.rs).
 *
 * - The request form: keeps the "You will (not) be able to…" lists, the
 *   approval line and the planned start and end beside the duration in
 *   step with the ticked boxes and the chosen minutes (the server renders
 *   the same words for the state it sends). Clock times count from the
 *   server's own time (`data-now`), not the browser's clock.
 * - Live boxes: refreshes every `[data-live]` box every 3 seconds from its
 *   `data-live` address (a `?fragment=` of the same page), unless the
 *   person is typing in it or the tab is hidden; `x-fragment-version`
 *   tells whether anything changed. A redirect (signed out) reloads. A
 *   `<details>` the person opened stays open across a refresh.
 */
(function () {
  var f = document.getElementById('request-form');
  if (!f) return;
  var will = document.getElementById('will'),
    wont = document.getElementById('wont'),
    ap = document.getElementById('approval'),
    plan = document.getElementById('plan'),
    planStart = document.getElementById('plan-start'),
    planEnd = document.getElementById('plan-end'),
    minutes = document.getElementById('minutes');
  var serverNow = plan ? Number(plan.getAttribute('data-now')) : 0,
    loaded = Date.now();
  function item(t) {
    var li = document.createElement('li');
    li.textContent = t;
    return li;
  }
  function two(n) {
    return (n < 10 ? '0' : '') + n;
  }
  /** "14:03 UTC", `m` minutes from the server's now. */
  function clockIn(m) {
    var d = new Date(serverNow + (Date.now() - loaded) + m * 60000);
    return two(d.getUTCHours()) + ':' + two(d.getUTCMinutes()) + ' UTC';
  }
  /** The same words as `plan_words` in src/console/pages/launch.rs. */
  function renderPlan(needs) {
    if (!plan || !minutes) return;
    var m = Number(minutes.value), end = clockIn(m);
    planStart.textContent = needs ? 'as soon as a lead approves' : 'now, when you start it';
    planEnd.textContent = needs
      ? m + ' minutes after you start it: ' + end + ' at the earliest'
      : end + ' if you start it now (' + m + ' minutes)';
  }
  var needsNow = false;
  function render() {
    will.textContent = '';
    wont.textContent = '';
    var any = false, needs = false;
    f.querySelectorAll('input[name=actions]').forEach(function (b) {
      var on = b.checked && !b.disabled;
      (on ? will : wont).appendChild(item(b.getAttribute('data-label')));
      if (on) {
        any = true;
        if (b.getAttribute('data-approval') === 'required') needs = true;
      }
    });
    if (!any) will.appendChild(item('Nothing yet: tick at least one action.'));
    ap.textContent = !any ? 'Tick at least one action.'
      : needs ? ap.getAttribute('data-needs') : ap.getAttribute('data-none');
    needsNow = needs;
    renderPlan(needs);
  }
  f.addEventListener('change', render);
  render();
  // The clock moves on: so do the planned times.
  setInterval(function () { renderPlan(needsNow); }, 15000);
})();

(function () {
  document.querySelectorAll('[data-live]').forEach(function (box) {
    var dirty = false;
    box.addEventListener('input', function () { dirty = true; });
    box.addEventListener('change', function () { dirty = true; });
    setInterval(function () {
      if (dirty || document.hidden || box.contains(document.activeElement)) return;
      fetch(box.getAttribute('data-live'), { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
        if (r.redirected) {
          location.reload();
          return;
        }
        if (!r.ok) return;
        var v = r.headers.get('x-fragment-version') || '';
        if (v === box.getAttribute('data-version')) return;
        return r.text().then(function (t) {
          if (dirty || box.contains(document.activeElement)) return;
          var open = [];
          box.querySelectorAll('details[open][id]').forEach(function (d) { open.push(d.id); });
          box.innerHTML = t;
          box.setAttribute('data-version', v);
          open.forEach(function (id) {
            var d = document.getElementById(id);
            if (d && box.contains(d)) d.open = true;
          });
        });
      }).catch(function () {});
    }, 3000);
  });
})();
