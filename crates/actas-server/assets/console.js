/*
 * The staff console's script, written into every console page's <script>
 * by the layout (src/console/mod.rs). Its SHA-256 is the page's CSP
 * `script-src`, computed at build time (build.rs).
 *
 * - The request form: keeps the "You will (not) be able to…" lists and the
 *   approval line in step with the ticked boxes (the server renders the
 *   same lists for the submitted state).
 * - Live boxes: refreshes every `[data-live]` box every 3 seconds from its
 *   `data-live` address (a `?fragment=` of the same page), unless the
 *   person is typing in it or the tab is hidden; `x-fragment-version`
 *   tells whether anything changed. A redirect (signed out) reloads.
 */
(function () {
  var f = document.getElementById('request-form');
  if (!f) return;
  var will = document.getElementById('will'),
    wont = document.getElementById('wont'),
    ap = document.getElementById('approval');
  function item(t) {
    var li = document.createElement('li');
    li.textContent = t;
    return li;
  }
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
  }
  f.addEventListener('change', render);
  render();
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
          box.innerHTML = t;
          box.setAttribute('data-version', v);
        });
      }).catch(function () {});
    }, 3000);
  });
})();
