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
 * - Live boxes: refreshes every `[data-live]` box from its `data-live`
 *   address (a `?fragment=` of the same page) as soon as the console's
 *   event stream (`GET /live`, one EventSource per page) says something
 *   changed, and every 3 seconds while that stream is down (every 30 s
 *   while it is up, for the relative times), unless the person is typing
 *   in it or the tab is hidden; `x-fragment-version` tells whether
 *   anything changed. A redirect (signed out) reloads. A `<details>` the
 *   person opened stays open across a refresh.
 * - Notifications: a "Notify me" button (only where the browser has
 *   `Notification` and the person has not decided yet) asks permission;
 *   once granted, an element with a `data-notify-key` that first appears
 *   after a refresh shows its `data-notify` sentence (a new request in
 *   the queue, a decision on the agent's own request).
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
  var boxes = Array.prototype.slice.call(document.querySelectorAll('[data-live]'));
  if (!boxes.length) return;
  var streamUp = false, ticks = 0;

  // Browser notifications: a new `data-notify-key` after a refresh.
  var canNotify = typeof window.Notification === 'function';
  var seen = {};
  function keys(root) {
    var found = [];
    root.querySelectorAll('[data-notify-key]').forEach(function (el) {
      found.push([el.getAttribute('data-notify-key'), el.getAttribute('data-notify') || '']);
    });
    return found;
  }
  keys(document).forEach(function (k) { seen[k[0]] = true; });
  function notifyNew(box) {
    keys(box).forEach(function (k) {
      if (seen[k[0]]) return;
      seen[k[0]] = true;
      if (!canNotify || Notification.permission !== 'granted' || !k[1]) return;
      try {
        new Notification(k[1], { tag: k[0] });
      } catch (e) { /* some browsers only notify from a service worker */ }
    });
  }
  var watched = boxes.some(function (b) { return /^(queue-list|home-live|request-live)$/.test(b.id); });
  if (canNotify && watched && Notification.permission === 'default') {
    var p = document.createElement('p');
    p.className = 'notify';
    var btn = document.createElement('button');
    btn.type = 'button';
    btn.id = 'notify-me';
    btn.textContent = 'Notify me';
    btn.title = 'Show a browser notification when a request arrives or is decided';
    btn.addEventListener('click', function () {
      var asked = Notification.requestPermission(function () {});
      var done = function () { if (Notification.permission !== 'default') p.remove(); };
      if (asked && asked.then) asked.then(done, done); else done();
    });
    p.appendChild(btn);
    boxes[0].parentNode.insertBefore(p, boxes[0]);
  }

  boxes.forEach(function (box) {
    box.liveDirty = false;
    box.livePending = false;
    box.addEventListener('input', function () { box.liveDirty = true; });
    box.addEventListener('change', function () { box.liveDirty = true; });
  });
  function refresh(box) {
    if (box.liveDirty || document.hidden || box.contains(document.activeElement)) return;
    box.livePending = false;
    fetch(box.getAttribute('data-live'), { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.redirected) {
        location.reload();
        return;
      }
      if (!r.ok) { box.livePending = true; return; }
      var v = r.headers.get('x-fragment-version') || '';
      if (v === box.getAttribute('data-version')) return;
      return r.text().then(function (t) {
        if (box.liveDirty || box.contains(document.activeElement)) { box.livePending = true; return; }
        var open = [];
        box.querySelectorAll('details[open][id]').forEach(function (d) { open.push(d.id); });
        box.innerHTML = t;
        box.setAttribute('data-version', v);
        open.forEach(function (id) {
          var d = document.getElementById(id);
          if (d && box.contains(d)) d.open = true;
        });
        notifyNew(box);
      });
    }).catch(function () { box.livePending = true; });
  }
  function refreshAll() {
    boxes.forEach(function (b) { b.livePending = true; refresh(b); });
  }

  // Pushed: `/live` says "changed" when something the person may see
  // changed; the boxes then look at once.
  if (typeof window.EventSource === 'function') {
    var es = new EventSource('/live');
    es.addEventListener('open', function () {
      // Whatever changed between the page and the stream.
      if (!streamUp) refreshAll();
      streamUp = true;
    });
    es.addEventListener('changed', refreshAll);
    es.addEventListener('error', function () { streamUp = false; });
    window.addEventListener('pagehide', function () { es.close(); });
  }

  // The poll: every 3 s while the stream is down; while it is up, only a
  // box that could not refresh when told to, and every 30 s for the times
  // ("in 12 min") that change without an event.
  setInterval(function () {
    ticks += 1;
    boxes.forEach(function (b) {
      if (!streamUp || b.livePending || ticks % 10 === 0) refresh(b);
    });
  }, 3000);
})();
