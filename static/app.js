/* facilitation: the little JavaScript the pages need on top of htmx.
 *
 * - the live socket resumes from the last sequence number it saw (#sync-seq),
 *   and reconnects whatever close code it got (1000, 1001, 1006, 1008, 1011,
 *   1012, 1013, ...), with jittered backoff; soon when the browser comes
 *   back online, a tab comes back into view, or a laptop wakes from sleep
 *   (always after a random wait of up to a second, so a venue's pages do not
 *   all return in the same instant);
 * - a link that went quiet for longer than the server's heartbeat is taken
 *   for dead and replaced (a half-open connection never says it is closed);
 * - when the server says it cannot replay (#sync-reload: the store was reset),
 *   or the page itself is gone, the page loads afresh rather than show a wrong board;
 * - a pushed entry that is new to this page gets an empty placeholder in its
 *   list first, so htmx's out-of-band swap by id can fill it (an entry that is
 *   already there is replaced, never duplicated);
 * - the sync state (live / reconnecting / offline) is shown and announced;
 *   outbox.js adds the count of changes not sent yet;
 * - no inline handlers anywhere: the Content-Security-Policy forbids them.
 */
(function () {
  "use strict";

  var RECONNECTED_BY_EXTENSION = [1006, 1011, 1012, 1013];
  // The organiser rotated the link this page was opened with: reloading shows
  // the server's page that says so (reconnecting would only be refused).
  var CLOSE_REVOKED = 4401;
  var TICK_MS = 5000;
  var announceTimer = null;
  var pendingAnnouncements = [];

  var socket = null;          // the socket this page currently relies on
  var wrapper = null;         // htmx-ext-ws's handle: wrapper.reconnect() opens a new one
  var opened = false;         // whether `socket` ever opened
  var retries = 0;
  var reconnectTimer = null;
  var handshakeFailures = 0;
  var lastCheck = 0;
  var lastMessage = Date.now();
  var lastTick = Date.now();
  var hiddenSince = 0;

  function $(id) { return document.getElementById(id); }

  // After a drop a page waits a random moment before it reconnects: when the
  // venue's Wi-Fi comes back, every page sees it in the same second, and the
  // random wait spreads their return over SPREAD_MS instead of one burst.
  // Then jittered exponential backoff ("full jitter"), capped low: on the day,
  // seconds matter more than sparing the server a few reconnects.
  var SPREAD_MS = 1000;
  function backoff(retry) {
    var cap = Math.min(8000, SPREAD_MS * Math.pow(2, Math.min(retry, 3)));
    return Math.random() * cap;
  }

  function heartbeatMs() {
    var root = document.querySelector(".live-root[data-heartbeat]");
    var seconds = root ? Number(root.getAttribute("data-heartbeat")) : 0;
    return (seconds > 0 ? seconds : 20) * 1000;
  }

  // UI words come from the server, already in the page's language.
  function words(id, key) {
    var el = $(id);
    return (el && el.getAttribute("data-" + key)) || "";
  }

  function lastSeq() {
    var marker = $("sync-seq");
    return marker ? marker.getAttribute("data-seq") || "0" : "0";
  }

  function setSync(state, text) {
    var sync = $("sync");
    if (!sync) return;
    sync.setAttribute("data-state", state);
    var label = sync.querySelector(".sync-text");
    var words = {
      live: sync.getAttribute("data-live") || "Live",
      connecting: sync.getAttribute("data-connecting") || "Connecting…",
      reconnecting: sync.getAttribute("data-reconnecting") || "Reconnecting…",
      offline: sync.getAttribute("data-offline") || "Offline — changes will wait"
    };
    if (label) label.textContent = text || words[state] || state;
  }

  function notLive() { setSync(navigator.onLine === false ? "offline" : "reconnecting"); }

  function reloadRequested() {
    var reload = $("sync-reload");
    return !!(reload && reload.getAttribute("data-reload"));
  }

  function scheduleReconnect() {
    if (!wrapper) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(function () { wrapper.reconnect(); }, backoff(retries++));
  }

  // Replace the socket after a random moment (see backoff). The old one is silenced
  // first: its late close event must not start yet another reconnect.
  function reconnectNow() {
    if (!wrapper) return;  // never connected yet: the extension is already retrying
    clearTimeout(reconnectTimer);
    var old = socket;
    if (old && old.readyState <= 1) {
      old.onclose = null;
      old.onerror = null;
      try { old.close(4000, "reconnect"); } catch (e) { /* already closing */ }
    }
    notLive();
    var now = wrapper;
    reconnectTimer = setTimeout(function () { now.reconnect(); }, Math.random() * SPREAD_MS);
  }

  // Handshakes keep failing: the page may be gone (event deleted, store reset)
  // or the link no longer valid. Ask the page itself; a 4xx means reload to see why.
  function checkPageStillThere() {
    if (Date.now() - lastCheck < 30000 || navigator.onLine === false) return;
    lastCheck = Date.now();
    fetch(window.location.pathname, { method: "HEAD", credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if ([401, 403, 404, 410].indexOf(response.status) >= 0) window.location.reload();
      }, function () { /* still unreachable: keep trying */ });
  }

  // Timers stop while a laptop sleeps: a long gap between ticks means it woke.
  function tick() {
    var now = Date.now();
    var slept = now - lastTick > TICK_MS * 3;
    lastTick = now;
    if (!socket || document.visibilityState === "hidden") return;
    var quiet = socket.readyState === 1 && now - lastMessage > heartbeatMs() * 2.5 + 5000;
    if (slept || quiet) reconnectNow();
  }

  // Polite, batched announcements: a busy room must not flood a screen reader.
  function announce(message) {
    pendingAnnouncements.push(message);
    if (announceTimer) return;
    announceTimer = setTimeout(function () {
      var region = $("announcer");
      var count = pendingAnnouncements.length;
      if (region) {
        var many = region.getAttribute("data-many") || "Updates from the room: {n}.";
        region.textContent = count === 1 ? pendingAnnouncements[0] : many.replace("{n}", count);
      }
      pendingAnnouncements = [];
      announceTimer = null;
    }, 1500);
  }

  function toast(message, kind) {
    var box = $("toasts");
    if (!box) return;
    var div = document.createElement("div");
    div.className = "toast " + (kind || "info");
    if (kind === "error") div.setAttribute("role", "alert");
    var p = document.createElement("p");
    p.textContent = message;
    div.appendChild(p);
    box.appendChild(div);
  }

  // Toasts leave by themselves, but never while a person is reading or using one
  // (focus or pointer inside): an Undo must stay reachable by keyboard (WCAG 2.2.1).
  function expireToast(el) {
    var wait = el.querySelector("button") ? 12000 : 6000;
    setTimeout(function check() {
      if (!el.isConnected) return;
      if (el.contains(document.activeElement) || el.matches(":hover")) {
        setTimeout(check, 2000);
        return;
      }
      el.remove();
    }, wait);
  }

  // Which entries of a pushed fragment are news to this page: a push that only
  // echoes what this page just saved (same id, same version) is not announced.
  var mine = {};  // entry id -> when this page last sent a change to it

  function rememberMine(form) {
    if (!form || !form.closest) return;
    var entryEl = form.closest("li.entry");
    if (entryEl) mine[entryEl.id] = Date.now();
    var id = form.querySelector && form.querySelector("input[name=id]");
    var kind = /\/(item|role)s$/.exec(form.getAttribute("action") || "");
    if (id && kind) mine[kind[1] + "-" + id.value] = Date.now();
  }

  function isMine(id) {
    return mine[id] && Date.now() - mine[id] < 10000;
  }

  function newsIn(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var news = 0;
    template.content.querySelectorAll("[data-upsert][id]").forEach(function (el) {
      var here = $(el.id);
      if (isMine(el.id)) return;
      if (!here || here.getAttribute("data-version") !== el.getAttribute("data-version")) news++;
    });
    template.content.querySelectorAll("[hx-swap-oob=delete][id]").forEach(function (el) {
      if ($(el.id) && !isMine(el.id)) news++;
    });
    return news;
  }

  // A poll that updates whatever of it this page shows (data-oob-optional: the
  // "who is here" counters, which only some views of the board have) drops the
  // parts with no target here; htmx would log each one as an error every poll.
  function dropMissingTargets(event) {
    var elt = event.detail.elt;
    var html = event.detail.serverResponse;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-oob-optional") || !html) return;
    var template = document.createElement("template");
    template.innerHTML = html;
    Array.prototype.slice.call(template.content.children).forEach(function (el) {
      if (el.hasAttribute("hx-swap-oob") && el.id && !$(el.id)) el.remove();
    });
    event.detail.serverResponse = template.innerHTML;
  }

  // Give each new entry of a fragment an empty placeholder in its list.
  function preparePlaceholders(html) {
    if (!html || html.indexOf("data-upsert") < 0) return;
    var template = document.createElement("template");
    template.innerHTML = html;
    template.content.querySelectorAll("[data-upsert][id]").forEach(function (el) {
      if ($(el.id)) return;
      var list = $(el.getAttribute("data-upsert"));
      if (!list) return;
      var placeholder = document.createElement(el.tagName);
      placeholder.id = el.id;
      list.appendChild(placeholder);
    });
  }

  // A pushed deletion of an entry this page no longer shows (the form's own answer
  // removed it first) is already true: dropped, so htmx does not log it as an error.
  // An htmx extension, because the ws extension reads the message before our events
  // could change it, and then runs the extensions' transformResponse.
  if (window.htmx) {
    htmx.defineExtension("quiet-delete", {
      transformResponse: function (text) {
        if (!text || text.indexOf('hx-swap-oob="delete"') < 0) return text;
        var template = document.createElement("template");
        template.innerHTML = text;
        template.content.querySelectorAll('[hx-swap-oob="delete"][id]').forEach(function (el) {
          if (!$(el.id)) el.remove();
        });
        return template.innerHTML;
      }
    });
  }

  // The socket URL carries the last seq this page has, so a reconnect replays
  // exactly what it missed. Installed now, not on DOMContentLoaded: htmx opens
  // the first socket in its own DOMContentLoaded handler, before ours runs.
  if (window.htmx) {
    htmx.createWebSocket = function (url) {
      var next = url.replace(/([?&]after=)\d*/, "$1" + lastSeq());
      socket = new WebSocket(next);
      socket.binaryType = htmx.config.wsBinaryType;
      opened = false;
      return socket;
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;
    // Set here, after htmx has read its <meta> config, which would override it.
    htmx.config.wsReconnectDelay = backoff;

    document.body.addEventListener("htmx:wsConnecting", notLive);
    document.body.addEventListener("htmx:wsOpen", function (event) {
      wrapper = event.detail.socketWrapper;
      socket = event.detail.event.target || socket;
      opened = true;
      retries = 0;
      handshakeFailures = 0;
      lastMessage = Date.now();
      setSync("live");
      document.dispatchEvent(new CustomEvent("facilitation:live"));
    });
    document.body.addEventListener("htmx:wsClose", function (event) {
      var closed = event.detail.event;
      if (closed.target && socket && closed.target !== socket) return;  // an old, replaced socket
      wrapper = event.detail.socketWrapper || wrapper;
      notLive();
      if (reloadRequested() || closed.code === CLOSE_REVOKED) { window.location.reload(); return; }
      if (!opened && ++handshakeFailures >= 3) checkPageStillThere();
      if (RECONNECTED_BY_EXTENSION.indexOf(closed.code) < 0) {
        // The extension gives up on other codes; a page for a live room never does.
        scheduleReconnect();
      }
    });
    // No layout jumps: what a person is typing in stays where it is on screen when
    // others' entries arrive above it (the browser's scroll anchoring may pick an
    // entry of the list as its anchor, and entries arrive at the end of the list).
    var held = null;
    document.body.addEventListener("htmx:wsBeforeMessage", function () {
      var el = document.activeElement;
      held = el && el !== document.body && el.closest && el.closest("form")
        ? {el: el, top: el.getBoundingClientRect().top} : null;
    });
    document.body.addEventListener("htmx:wsAfterMessage", function () {
      if (!held || !held.el.isConnected) { held = null; return; }
      var moved = held.el.getBoundingClientRect().top - held.top;
      if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
      held = null;
    });
    var pushedNews = 0;
    document.body.addEventListener("htmx:wsBeforeMessage", function (event) {
      lastMessage = Date.now();
      pushedNews = newsIn(event.detail.message);
      preparePlaceholders(event.detail.message);
    });
    document.body.addEventListener("htmx:wsAfterMessage", function (event) {
      if (reloadRequested()) { window.location.reload(); return; }
      if (pushedNews > 0) announce(words("announcer", "one"));
      pushedNews = 0;
      syncLockState();
    });
    var toasts = $("toasts");
    if (toasts) {
      toasts.querySelectorAll(".toast").forEach(expireToast);
      new MutationObserver(function (records) {
        records.forEach(function (record) {
          record.addedNodes.forEach(function (node) {
            if (node.nodeType !== 1 || !node.classList.contains("toast")) return;
            expireToast(node);
          });
        });
        // A busy minute must not bury the page under toasts: the newest few stay,
        // older plain ones go (one with an Undo, or the focus, stays its time).
        var plain = Array.prototype.filter.call(toasts.querySelectorAll(".toast"), function (el) {
          return !el.querySelector("button") && !el.contains(document.activeElement);
        });
        // (In the room page's bar, one: the bar stays small.)
        var keep = toasts.closest(".topbar") ? 1 : 2;
        plain.slice(0, Math.max(0, plain.length - keep)).forEach(function (el) { el.remove(); });
      }).observe(toasts, {childList: true});
    }
    // After a delete the focused button is gone with its entry: hand the focus to
    // the toast's Undo, so a keyboard user can take it back at once (or Tab on).
    // (The form is detached by then, so its own events no longer reach the body.)
    var focusUndo = false;
    // Only once htmx has processed the toast (htmx:load): before that its Undo would
    // post as a plain form and reload the page.
    document.body.addEventListener("htmx:load", function (event) {
      var el = event.detail.elt;
      if (!focusUndo || !el || !el.closest || !el.closest("#toasts")) return;
      var undo = el.querySelector("form[hx-post] button");
      if (undo) { focusUndo = false; undo.focus(); }
    });
    // Room forms go through the outbox (which takes the submit before htmx does):
    // note them at submit time, capturing on window, before the outbox empties the form.
    window.addEventListener("submit", function (event) { rememberMine(event.target); }, true);
    // A create's id is made by the outbox as it takes the form: it says which.
    document.addEventListener("facilitation:queued", function (event) {
      if (event.detail && event.detail.id) mine[event.detail.id] = Date.now();
    });
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      rememberMine(event.detail.elt);
      var form = event.detail.elt;
      if (form && form.getAttribute && /\/delete$/.test(form.getAttribute("action") || "")) {
        focusUndo = form.contains(document.activeElement);
      }
    });
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      dropMissingTargets(event);
      preparePlaceholders(event.detail.serverResponse);
    });
    document.body.addEventListener("htmx:afterSwap", syncLockState);
    document.body.addEventListener("htmx:sendError", function () {
      toast(words("toasts", "send-error"), "error");
    });
    document.body.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr.status;
      if (status >= 500) toast(words("toasts", "server-error").replace("{status}", status), "error");
    });
    window.addEventListener("offline", function () { setSync("offline"); });
    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") { hiddenSince = Date.now(); return; }
      var away = hiddenSince && Date.now() - hiddenSince > heartbeatMs();
      if (away || (socket && socket.readyState !== 1)) reconnectNow();
    });
    // A send that failed may mean this socket is half-dead too.
    document.addEventListener("facilitation:unsent", function () {
      if (socket && socket.readyState === 1 && Date.now() - lastMessage > heartbeatMs()) reconnectNow();
    });
    setInterval(tick, TICK_MS);

    // Cancel an inline edit: empty its slot.
    document.body.addEventListener("click", function (event) {
      var target = event.target.closest("[data-action='cancel-edit']");
      if (!target) return;
      event.preventDefault();
      var slot = target.closest(".edit-slot");
      if (slot) {
        var entry = slot.closest(".entry");
        slot.innerHTML = "";
        var focusBack = entry && entry.querySelector(".entry-menu summary");
        if (focusBack) focusBack.focus();
      }
    });
    // Focus the first field of an edit form when it opens (its entry's menu closes).
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var slot = event.detail.target;
      if (slot && slot.classList && slot.classList.contains("edit-slot")) {
        var owner = slot.closest(".entry");
        var menu = owner && owner.querySelector("details.entry-menu[open]");
        if (menu) menu.open = false;
        var field = slot.querySelector("textarea, input:not([type=hidden])");
        if (field) field.focus();
      }
    });
    wireMenus();
    wireDates();
    document.querySelectorAll("a[data-jump]").forEach(function (link) {
      // To the add form's first field itself, not only its place on the page.
      link.addEventListener("click", function (event) {
        var field = $((link.getAttribute("href") || "").slice(1));
        if (!field) return;
        event.preventDefault();
        field.focus();
      });
    });
    syncLockState();
    setInterval(tickTimers, 1000);
    tickTimers();
  });

  // Each entry's menu (a <details>): one open at a time; Escape or a click elsewhere
  // closes it, and Escape gives the focus back to its button.
  function wireMenus() {
    document.addEventListener("toggle", function (event) {
      var menu = event.target;
      if (!menu.matches || !menu.matches("details.entry-menu") || !menu.open) return;
      document.querySelectorAll("details.entry-menu[open]").forEach(function (other) {
        if (other !== menu) other.open = false;
      });
    }, true);
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      var menu = document.activeElement && document.activeElement.closest &&
        document.activeElement.closest("details.entry-menu[open]");
      if (!menu) return;
      menu.open = false;
      menu.querySelector("summary").focus();
    });
    document.addEventListener("click", function (event) {
      document.querySelectorAll("details.entry-menu[open]").forEach(function (menu) {
        if (!menu.contains(event.target)) menu.open = false;
      });
    });
  }

  // A date field shows its date the way the page writes dates everywhere else (the
  // browser's own field follows the browser's language, not the page's).
  function formatDate(iso) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(iso || "")) return "";
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || undefined,
        { dateStyle: "medium", timeZone: "UTC" }).format(new Date(iso + "T00:00:00Z"));
    } catch (e) { return iso; }
  }
  window.facilitationDate = formatDate;
  function showDate(input) {
    var out = input.id && document.querySelector("output[for='" + CSS.escape(input.id) + "']");
    if (out) out.textContent = formatDate(input.value);
  }
  function wireDates() {
    document.querySelectorAll("input[type=date]").forEach(showDate);
    document.addEventListener("input", function (event) {
      if (event.target.matches && event.target.matches("input[type=date]")) showDate(event.target);
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var root = event.detail.target;
      if (root && root.querySelectorAll) root.querySelectorAll("input[type=date]").forEach(showDate);
    });
  }

  // The moderator's countdown: the server sends when it ends; each page counts down.
  function tickTimers() {
    document.querySelectorAll(".timer[data-ends-at]").forEach(function (timer) {
      var left = Math.round((Date.parse(timer.getAttribute("data-ends-at")) - Date.now()) / 1000);
      var clock = timer.querySelector(".timer-clock");
      if (!clock || isNaN(left)) return;
      if (left <= 0) {
        clock.textContent = timer.getAttribute("data-done") || "0:00";
        timer.setAttribute("data-state", "done");
        return;
      }
      var m = Math.floor(left / 60), s = left % 60;
      clock.textContent = m + ":" + (s < 10 ? "0" : "") + s;
      timer.setAttribute("data-state", left <= 60 ? "soon" : "running");
    });
  }

  // "The board changed" (#plenary-dirty, #mod-dirty): fetch the region afresh at once
  // (the moderator's click shows on the projector without a wait), then at most every
  // 400 ms however fast changes come, and always once after the last of them.
  var REFRESH_GAP_MS = 400;
  var refreshTimer = null;
  var lastRefresh = -Infinity;
  var refreshedSeq = {};
  function scheduleRefresh() {
    if (!window.htmx) return;
    document.querySelectorAll("[data-refresh][data-target]").forEach(function (marker) {
      var seq = parseInt(marker.getAttribute("data-seq") || "0", 10);
      var key = marker.id;
      if (refreshedSeq[key] === undefined) { refreshedSeq[key] = seq; return; }  // the page's own
      if (seq <= refreshedSeq[key] || refreshTimer) return;
      var wait = Math.max(0, lastRefresh + REFRESH_GAP_MS - performance.now());
      refreshTimer = setTimeout(function () {
        refreshTimer = null;
        lastRefresh = performance.now();
        var now = document.getElementById(key);
        if (!now) return;
        refreshedSeq[key] = parseInt(now.getAttribute("data-seq") || "0", 10);
        // A region that says which seq it shows (the moderator's) is sent only what
        // changed since, as out-of-band swaps; else (or when that cannot be told) whole.
        var url = now.getAttribute("data-refresh");
        var region = document.getElementById(now.getAttribute("data-target"));
        var shown = region && region.querySelector("[data-region-seq]");
        if (shown) {
          url += (url.indexOf("?") < 0 ? "?" : "&") + "since=" +
                 encodeURIComponent(shown.getAttribute("data-region-seq"));
        }
        htmx.ajax("GET", url, { target: "#" + now.getAttribute("data-target"), swap: "outerHTML" });
      }, wait);
    });
  }
  document.addEventListener("DOMContentLoaded", scheduleRefresh);
  document.addEventListener("htmx:wsAfterMessage", scheduleRefresh);
  document.addEventListener("htmx:afterRequest", function () { if (!refreshTimer) scheduleRefresh(); });

  // A re-rendered region keeps what the person was doing in it: each ticked box (the
  // moderator choosing items to merge), each opened <details id> (a joint action's
  // sources). (The board turns its own pages: static/board.js.)
  var ticked = [];
  var opened = [];
  var openMenus = [];
  // And the keyboard focus: a re-rendered control is a new element, so focus would
  // fall back to the page's start and a keyboard user would tab from the top again.
  var focused = null;
  function focusKey(el) {
    if (!el || el === document.body || !el.tagName) return null;
    if (el.id) return { sel: "#" + CSS.escape(el.id), form: null };
    var sel = el.tagName.toLowerCase();
    if (el.name) sel += '[name="' + CSS.escape(el.name) + '"]';
    if (el.tagName === "BUTTON" && el.value) sel += '[value="' + CSS.escape(el.value) + '"]';
    var owner = el.closest && el.closest("li.entry[id]");
    return { sel: sel, form: el.form ? el.form.getAttribute("action") : null,
             entry: owner ? owner.id : null };
  }
  // outbox.js swaps entries itself (a form's answer) and finds the focus the same way.
  window.facilitationFocus = { key: focusKey };
  function restoreFocus() {
    if (!focused) return;
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) { focused = null; return; }
    var matches = document.querySelectorAll(focused.sel);
    for (var i = 0; i < matches.length; i++) {
      var form = matches[i].form ? matches[i].form.getAttribute("action") : null;
      if ((focused.form === null || form === focused.form) && matches[i].getClientRects().length) {
        matches[i].focus({ preventScroll: true });
        focused = null;
        return;
      }
    }
    // The control is gone ("Mark agreed" became "Mark done", its menu closed again):
    // the entry's menu button keeps the keyboard user's place.
    var owner = focused.entry && $(focused.entry);
    var menu = owner && owner.querySelector(".entry-menu summary");
    if (menu) menu.focus({ preventScroll: true });
    focused = null;
  }
  function rememberState() {
    focused = focusKey(document.activeElement) || focused;
    opened = [];
    document.querySelectorAll("[data-keep-checks] details[id][open]").forEach(function (box) {
      opened.push(box.id);
    });
    // An entry's menu open while someone else's change re-renders the entry stays open.
    openMenus = [];
    document.querySelectorAll("li.entry[id] > details.entry-menu[open]").forEach(function (menu) {
      openMenus.push(menu.parentNode.id);
    });
    ticked = [];
    document.querySelectorAll("[data-keep-checks] input[type=checkbox]:checked").forEach(function (box) {
      ticked.push(box.name + "=" + box.value);
    });
  }
  function restoreState() {
    opened.forEach(function (id) {
      var box = document.getElementById(id);
      if (box && box.tagName === "DETAILS") box.open = true;
    });
    openMenus.forEach(function (id) {
      var menu = document.querySelector("#" + CSS.escape(id) + " > details.entry-menu");
      if (menu) menu.open = true;
    });
    document.querySelectorAll("[data-keep-checks] input[type=checkbox]").forEach(function (box) {
      if (ticked.indexOf(box.name + "=" + box.value) >= 0) box.checked = true;
    });
    tickTimers();
    markMyVotes();
    restoreFocus();
  }
  document.addEventListener("htmx:oobBeforeSwap", rememberState);
  document.addEventListener("htmx:beforeSwap", rememberState);
  document.addEventListener("htmx:oobAfterSwap", restoreState);
  document.addEventListener("htmx:afterSwap", restoreState);

  // Votes: the pushed list is the same for everyone; which ones are mine, and how
  // many I have left, this page knows from #my-votes (set by the server for me).
  function markMyVotes() {
    var mine = $("my-votes");
    var panel = $("votes-panel");
    if (!mine || !panel) return;
    var given = (mine.getAttribute("data-my-votes") || "").split(" ").filter(Boolean);
    panel.querySelectorAll(".vote-row[data-target]").forEach(function (row) {
      row.classList.toggle("voted", given.indexOf(row.getAttribute("data-target")) >= 0);
    });
    var budget = parseInt(panel.getAttribute("data-budget") || "0", 10);
    var left = $("votes-left");
    if (left) left.textContent = String(Math.max(0, budget - given.length));
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    markMyVotes();
  });
  document.addEventListener("htmx:afterSwap", markMyVotes);

  // A locked room disables its forms at once, not only when they are submitted.
  function syncLockState() {
    var state = $("room-state");
    if (!state) return;
    var locked = state.getAttribute("data-locked") === "true";
    document.querySelectorAll("fieldset.write").forEach(function (fs) { fs.disabled = locked; });
    document.body.classList.toggle("locked", locked);
  }
})();
