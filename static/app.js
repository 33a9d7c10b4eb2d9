/* facilitation: the little JavaScript the pages need on top of htmx.
 *
 * - the live socket resumes from the last sequence number it saw (#sync-seq),
 *   and reconnects whatever close code it got, with jittered backoff;
 * - a pushed entry that is new to this page gets an empty placeholder in its
 *   list first, so htmx's out-of-band swap by id can fill it (an entry that is
 *   already there is replaced, never duplicated);
 * - the sync state (live / reconnecting / offline) is shown and announced;
 * - no inline handlers anywhere: the Content-Security-Policy forbids them.
 */
(function () {
  "use strict";

  var RECONNECTED_BY_EXTENSION = [1006, 1011, 1012, 1013];
  // The organiser rotated the link this page was opened with: reloading shows
  // the server's page that says so (reconnecting would only be refused).
  var CLOSE_REVOKED = 4401;
  var announceTimer = null;
  var pendingAnnouncements = [];

  function $(id) { return document.getElementById(id); }

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

  // Polite, batched announcements: a busy room must not flood a screen reader.
  function announce(message) {
    pendingAnnouncements.push(message);
    if (announceTimer) return;
    announceTimer = setTimeout(function () {
      var region = $("announcer");
      var count = pendingAnnouncements.length;
      if (region) {
        region.textContent = count === 1 ? pendingAnnouncements[0] : count + " updates from the room";
      }
      pendingAnnouncements = [];
      announceTimer = null;
    }, 1500);
  }

  function toast(message, kind) {
    var box = $("toasts");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "toast " + (kind || "info");
    p.textContent = message;
    box.appendChild(p);
    setTimeout(function () { p.remove(); }, 6000);
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

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;

    // The socket URL carries the last seq this page has, so a reconnect replays
    // exactly what it missed.
    htmx.createWebSocket = function (url) {
      var next = url.replace(/([?&]after=)\d*/, "$1" + lastSeq());
      var socket = new WebSocket(next);
      socket.binaryType = htmx.config.wsBinaryType;
      return socket;
    };

    document.body.addEventListener("htmx:wsConnecting", function () {
      setSync(navigator.onLine === false ? "offline" : "reconnecting");
    });
    document.body.addEventListener("htmx:wsOpen", function () { setSync("live"); });
    document.body.addEventListener("htmx:wsClose", function (event) {
      var code = event.detail.event.code;
      var wrapper = event.detail.socketWrapper;
      setSync(navigator.onLine === false ? "offline" : "reconnecting");
      var reload = $("sync-reload");
      if (reload && reload.getAttribute("data-reload")) { window.location.reload(); return; }
      if (code === CLOSE_REVOKED) { window.location.reload(); return; }
      if (RECONNECTED_BY_EXTENSION.indexOf(code) < 0 && wrapper) {
        // The extension gives up on other codes; a page for a live room never does.
        setTimeout(function () { wrapper.reconnect(); }, 500 + Math.random() * 2500);
      }
    });
    document.body.addEventListener("htmx:wsBeforeMessage", function (event) {
      preparePlaceholders(event.detail.message);
    });
    document.body.addEventListener("htmx:wsAfterMessage", function (event) {
      var reload = $("sync-reload");
      if (reload && reload.getAttribute("data-reload")) { window.location.reload(); return; }
      if (event.detail.message.indexOf("data-upsert") >= 0) announce("The board was updated");
      syncLockState();
    });
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      preparePlaceholders(event.detail.serverResponse);
    });
    document.body.addEventListener("htmx:afterSwap", syncLockState);
    document.body.addEventListener("htmx:sendError", function () {
      toast("Could not reach the server. Check the connection and try again.", "error");
    });
    document.body.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr.status;
      if (status >= 500) toast("The server could not save that (" + status + "). Try again shortly.", "error");
    });
    window.addEventListener("offline", function () { setSync("offline"); });
    window.addEventListener("online", function () { setSync("reconnecting"); });

    // Cancel an inline edit: empty its slot.
    document.body.addEventListener("click", function (event) {
      var target = event.target.closest("[data-action='cancel-edit']");
      if (!target) return;
      event.preventDefault();
      var slot = target.closest(".edit-slot");
      if (slot) {
        var entry = slot.closest(".entry");
        slot.innerHTML = "";
        var focusBack = entry && entry.querySelector(".entry-actions a, .entry-actions button");
        if (focusBack) focusBack.focus();
      }
    });
    // Focus the first field of an edit form when it opens.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var slot = event.detail.target;
      if (slot && slot.classList && slot.classList.contains("edit-slot")) {
        var field = slot.querySelector("textarea, input:not([type=hidden])");
        if (field) field.focus();
      }
    });
    syncLockState();
    setInterval(tickTimers, 1000);
    tickTimers();
    if (document.body.classList.contains("plenary-page")) setInterval(autoScroll, 7000);
  });

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

  // The projected board has no scroll bars: a pane longer than the screen turns its
  // pages by itself, then starts again from the top.
  function autoScroll() {
    document.querySelectorAll("[data-autoscroll]").forEach(function (pane) {
      var more = pane.scrollHeight > pane.clientHeight + 4;
      pane.classList.toggle("has-more", more && pane.scrollTop + pane.clientHeight < pane.scrollHeight - 4);
      if (!more) return;
      var atEnd = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
      var reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      pane.scrollTo({ top: atEnd ? 0 : pane.scrollTop + pane.clientHeight * 0.85, behavior: reduce ? "auto" : "smooth" });
    });
  }

  // A re-rendered region keeps what the person was doing in it: each board pane
  // where it had turned to, each ticked box (the moderator choosing items to merge).
  var scrollPositions = {};
  var ticked = [];
  document.addEventListener("htmx:oobBeforeSwap", function () {
    document.querySelectorAll("[data-autoscroll][id]").forEach(function (pane) {
      scrollPositions[pane.id] = pane.scrollTop;
    });
    ticked = [];
    document.querySelectorAll("[data-keep-checks] input[type=checkbox]:checked").forEach(function (box) {
      ticked.push(box.name + "=" + box.value);
    });
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    document.querySelectorAll("[data-autoscroll][id]").forEach(function (pane) {
      if (scrollPositions[pane.id]) pane.scrollTop = scrollPositions[pane.id];
    });
    document.querySelectorAll("[data-keep-checks] input[type=checkbox]").forEach(function (box) {
      if (ticked.indexOf(box.name + "=" + box.value) >= 0) box.checked = true;
    });
    tickTimers();
    markMyVotes();
  });

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
