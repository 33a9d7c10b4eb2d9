/* facilitation: the room page's outbox. Nothing a person typed is lost.
 *
 * Every write the room page makes (add, edit, mark agreed/done, delete) goes
 * through here instead of straight to the network:
 *  1. it is stored in localStorage under its own idempotency id, made when the
 *     person submits (a create also gets its new entry's id then, never the one
 *     the form was rendered with: two forms, or one form used twice, never share
 *     one), before anything is sent. A pending entry is never overwritten;
 *  2. it is shown at once, marked "not sent yet";
 *  3. it is sent, oldest first, and sent again after a reconnect, when the
 *     browser comes back online, or when the page is loaded again, until the
 *     server answers. The server stores each id once, so a resend is harmless;
 *  4. a refusal (409 someone changed it first, 423 room locked, 422 invalid,
 *     ...) is kept and shown with the server's reason and a way to resolve it.
 *
 * The sync indicator (#sync) shows how many changes are not sent yet; app.js
 * owns the socket and tells us ("facilitation:live") when it is back.
 * No inline handlers: the Content-Security-Policy forbids them.
 */
(function () {
  "use strict";

  var PREFIX = "facilitation:outbox:";
  var SEND_TIMEOUT_MS = 15000;
  var root = null;       // .live-root[data-outbox] of a room page, or null elsewhere
  var scope = "";        // "/e/<event>/r/<room>": entries belong to one room
  var box = null;        // #outbox: the refused panel and the words
  var memory = {};       // used when localStorage is unavailable (private mode, quota)
  var sending = false;
  var inflight = null;   // {controller, started, retryNow} of the send under way
  var retryTimer = null;
  var attempt = 0;
  var counter = 0;

  function $(id) { return document.getElementById(id); }

  function word(name, values) {
    var text = (box && box.getAttribute("data-" + name)) || name;
    Object.keys(values || {}).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    return text;
  }

  // A version 4 UUID. crypto.randomUUID exists only on https or localhost;
  // conference set-ups often serve plain http on a LAN address.
  function uuid4() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // -- storage: one key per entry, so two tabs never overwrite each other's ----------

  function keyOf(id) { return PREFIX + scope + ":" + id; }

  function all() {
    var found = {};
    var prefix = PREFIX + scope + ":";
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k && k.indexOf(prefix) === 0) {
          try { found[k] = JSON.parse(localStorage.getItem(k)); } catch (e) { localStorage.removeItem(k); }
        }
      }
    } catch (e) { /* storage disabled: memory only */ }
    Object.keys(memory).forEach(function (k) { if (!(k in found)) found[k] = memory[k]; });
    return Object.keys(found).map(function (k) { return found[k]; })
      .sort(function (a, b) { return a.order - b.order; });
  }

  function get(id) {
    var k = keyOf(id);
    try {
      var raw = localStorage.getItem(k);
      if (raw) return JSON.parse(raw);
    } catch (e) { /* fall through */ }
    return memory[k] || null;
  }

  // A new change: under an id no other change has, or not at all (never overwritten).
  function add(entry) {
    if (get(entry.id)) throw new Error("outbox: id " + entry.id + " is already taken");
    put(entry);
  }

  // The same change, saved again (its state, or its body brought up to date).
  function put(entry) {
    var k = keyOf(entry.id);
    try {
      localStorage.setItem(k, JSON.stringify(entry));
      delete memory[k];
    } catch (e) {
      memory[k] = entry;  // still sent; only a reload would lose it
    }
  }

  function forget(id) {
    var k = keyOf(id);
    delete memory[k];
    try { localStorage.removeItem(k); } catch (e) { /* nothing stored */ }
  }

  function pending() { return all().filter(function (e) { return e.state === "pending"; }); }

  // -- taking a write -----------------------------------------------------------------

  function fieldsOf(data) {
    var out = {};
    data.forEach(function (value, name) {
      if (name === "goals") (out.goals = out.goals || []).push(String(value));
      else out[name] = String(value);
    });
    return out;
  }

  function labelOf(op, fields, submitter, form) {
    var what = fields.text || [fields.actor, fields.role].filter(Boolean).join(" → ");
    if (op === "create" || (op === "update" && what)) return what || "";
    // A status change or a deletion: say what it was done to.
    var entry = form.closest(".entry");
    var text = entry && entry.querySelector(".entry-text");
    var subject = text ? text.textContent.replace(/\s+/g, " ").trim() : "";
    if (subject.length > 60) subject = subject.slice(0, 59) + "…";
    var action = op === "delete" ? word("delete") : (submitter ? submitter.textContent.trim() : "");
    return subject ? action + ": “" + subject + "”" : action;
  }

  // ".../items", ".../items/<id>", ".../roles/<id>/delete" -> "item" or "role".
  function kindOf(action) {
    var found = /\/(item|role)s(\/|$)/.exec(action);
    return found ? found[1] : "";
  }

  function clearForm(form) {
    form.querySelectorAll("input, textarea").forEach(function (field) {
      if (field.type === "hidden") return;
      if (field.type === "checkbox") field.checked = false;
      else field.value = "";
    });
    form.querySelectorAll("output.date-shown").forEach(function (out) { out.textContent = ""; });
    var idField = form.querySelector("input[name=id]");
    if (idField) idField.value = uuid4();
    form.querySelectorAll(".form-error").forEach(function (el) { el.remove(); });
  }

  // An id no entry of this outbox has: made now, for this one change.
  function freshId() {
    var id = uuid4();
    while (get(id)) id = uuid4();
    return id;
  }

  function enqueue(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    var op = form.getAttribute("data-outbox");
    // A form may name its kind (the owner's follow-up page: "progress"); its entry is #<kind>-<id>.
    var kind = form.getAttribute("data-kind") || kindOf(form.getAttribute("action") || "");
    if (!kind) return false;
    // A create's entity id is its idempotency key on the server: made at submit time,
    // never taken from the form (rendered once, and shared by the room's two forms).
    if (op === "create") data.set("id", freshId());
    var fields = fieldsOf(data);
    var entity = op === "create" ? fields.id : form.getAttribute("data-entity");
    if (!entity) return false;
    var entry = {
      id: op === "create" ? entity : freshId(),
      order: Date.now() + (counter++ % 1000) / 1000,
      url: form.getAttribute("action"),
      body: new URLSearchParams(data).toString(),
      kind: kind,
      op: op,
      entity: entity,
      fields: fields,
      label: labelOf(op, fields, submitter, form),
      // What the "not sent yet" note on the entry itself says was done.
      action: submitter && submitter.name === "status" ? submitter.textContent.trim() : "",
      state: "pending"
    };
    add(entry);
    // app.js then knows the push of this entry is this person's own (not announced).
    document.dispatchEvent(new CustomEvent("facilitation:queued", { detail: { id: kind + "-" + entity } }));
    // The form moves on at once: a person adding many items offline keeps typing.
    if (op === "create") {
      clearForm(form);
      var first = form.querySelector("textarea, input:not([type=hidden])");
      if (first) first.focus();
    }
    // A choice made from an entry's menu closes it; the focus stays on its button.
    var menu = form.closest("details.entry-menu");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
    var slot = form.closest(".edit-slot");
    if (slot) {
      var owner = slot.closest(".entry");
      slot.innerHTML = "";
      var back = owner && owner.querySelector(".entry-menu summary");
      if (back) back.focus();
    }
    var refused = form.closest("[data-refused]");
    if (refused) forget(refused.getAttribute("data-refused"));
    var toast = form.closest(".toast");
    if (toast) toast.remove();  // an Undo is done once
    if (navigator.onLine === false) notify(word("kept"));
    render();
    flush();
    return true;
  }

  // -- sending ------------------------------------------------------------------------

  function flush() {
    if (sending || !root) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    var next = pending()[0];
    if (!next) { attempt = 0; render(); return; }
    sending = true;
    var controller = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (controller) controller.abort(); }, SEND_TIMEOUT_MS);
    var mine = inflight = { controller: controller, started: Date.now(), retryNow: false };
    fetch(next.url, {
      method: "POST",
      body: next.body,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8", "HX-Request": "true" },
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      return response.text().then(function (text) {
        return { status: response.status, text: text, retryAfter: response.headers.get("Retry-After") };
      });
    }).then(function (answer) {
      clearTimeout(timer);
      sending = false;
      settle(next, answer);
    }, function () {
      clearTimeout(timer);
      sending = false;
      if (mine.retryNow) flush();  // abandoned on a link that has since come back
      else later(null);
    });
  }

  // The connection is back: a send still waiting on the old, dead link would only
  // time out. Abandon it and send again now (the server stores it once either way).
  function resendNow() {
    attempt = 0;
    if (sending && inflight && inflight.controller && Date.now() - inflight.started > 3000) {
      inflight.retryNow = true;
      inflight.controller.abort();
      return;
    }
    flush();
  }

  function later(retryAfter) {
    attempt += 1;
    var cap = Math.min(30000, 1000 * Math.pow(2, Math.min(attempt, 5)));
    var wait = cap / 2 + Math.random() * cap / 2;
    var asked = Number(retryAfter);
    if (asked > 0) wait = Math.max(wait, asked * 1000);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(flush, wait);
    render();
    document.dispatchEvent(new CustomEvent("facilitation:unsent"));
  }

  function settle(entry, answer) {
    var status = answer.status;
    if (!get(entry.id)) { flush(); return; }  // discarded while it was in flight
    if (status >= 200 && status < 300) {
      forget(entry.id);
      attempt = 0;
      followOn(entry, answer.text);
      applyFragments(answer.text, entry);
    } else if (status === 404 && entry.op === "delete") {
      forget(entry.id);  // already gone: what was asked for is true
      var el = $(entry.kind + "-" + entry.entity);
      if (el) el.remove();
    } else if (status === 0 || status === 408 || status === 429 || status >= 500) {
      later(answer.retryAfter);
      return;
    } else {
      refuse(entry, status, answer.text);
    }
    render();
    flush();
  }

  // This person's next changes to the same entry were made on top of this one (the
  // page still showed the version it was based on): they move on to the version it
  // made, so a mark and an edit made offline are both stored, not the second refused.
  function followOn(entry, html) {
    if (entry.op !== "update") return;
    var sent = new URLSearchParams(entry.body).get("version");
    var template = document.createElement("template");
    template.innerHTML = html;
    var stored = template.content.getElementById(entry.kind + "-" + entry.entity);
    var made = stored && stored.getAttribute("data-version");
    if (!sent || !made) return;
    pending().forEach(function (next) {
      if (next.kind !== entry.kind || next.entity !== entry.entity || next.op !== "update") return;
      var body = new URLSearchParams(next.body);
      if (body.get("version") !== sent) return;
      body.set("version", made);
      next.body = body.toString();
      put(next);
    });
  }

  function refuse(entry, status, html) {
    // A 409 brings the entry as saved now: shown at once (never older than shown).
    if (status === 409) applyFragments(html, entry);
    var template = document.createElement("template");
    template.innerHTML = html;
    var reason = template.content.querySelector(".form-error, .conflict strong, .toast, .message");
    entry.state = "refused";
    entry.status = status;
    entry.reason = reason ? reason.textContent.trim() : word("refused", { status: status });
    if (status === 404) entry.reason = word("gone");
    // An edit form comes back with the server's own resolution: the saved
    // version beside the person's text, ready to save on top of it.
    var form = template.content.querySelector("form.edit-form");
    entry.html = form ? form.outerHTML : "";
    put(entry);
    announce(word("not-saved") + ": " + entry.label + ". " + entry.reason);
  }

  // The answer's out-of-band parts (the entry as stored, or its deletion), put on
  // the board the way a websocket push would be, never older than what is shown.
  function applyFragments(html, entry) {
    var template = document.createElement("template");
    template.innerHTML = html;
    Array.prototype.slice.call(template.content.children).forEach(function (el) {
      var how = el.getAttribute("hx-swap-oob");
      if (!how || !el.id) return;
      if (el.id === "toasts") { showToasts(el, entry); return; }
      el.removeAttribute("hx-swap-oob");
      var existing = $(el.id);
      if (how === "delete") { if (existing) existing.remove(); return; }
      var focused = null;
      if (existing) {
        // The push usually got there first: the same version needs no second swap,
        // which would also take the keyboard focus from whoever has tabbed into it.
        var shown = Number(existing.getAttribute("data-version") || 0);
        if (shown >= Number(el.getAttribute("data-version") || 0)) return;
        var openSlot = existing.querySelector(".edit-slot");
        var newSlot = el.querySelector(".edit-slot");
        if (openSlot && newSlot && openSlot.id === newSlot.id) newSlot.replaceWith(openSlot);
        if (existing.contains(document.activeElement)) focused = document.activeElement;
        existing.replaceWith(el);
      } else {
        var list = $(el.getAttribute("data-upsert") || "");
        if (!list) return;
        list.appendChild(el);
      }
      if (window.htmx) htmx.process(el);
      if (focused) refocus(el, focused);
    });
  }

  // Put the focus on the new copy of the control that had it (found the way app.js
  // finds it after an htmx swap), or on the entry's menu when that one is gone
  // ("Mark agreed" became "Mark done", in a menu that is closed again).
  function refocus(root, old) {
    var key = window.facilitationFocus && window.facilitationFocus.key(old);
    var same = (key && root.querySelector(key.sel)) ||
      root.querySelector(".entry-menu summary");
    if (same) same.focus({ preventScroll: true });
  }

  // The server's feedback ("Saved", "Deleted" with its Undo), as htmx would show it.
  function showToasts(fragment, entry) {
    var box = $("toasts");
    if (!box) return;
    Array.prototype.slice.call(fragment.children).forEach(function (toast) {
      box.appendChild(toast);
      if (window.htmx) htmx.process(toast);
      // The deleted entry took the focus with it: hand it to the Undo.
      var undo = toast.querySelector("form button");
      var lost = !document.activeElement || document.activeElement === document.body;
      if (undo && entry.op === "delete" && lost) undo.focus();
    });
  }

  // -- showing ------------------------------------------------------------------------

  function announce(message) {
    var region = $("announcer");
    if (region) region.textContent = message;
  }

  function notify(message) {
    var toasts = $("toasts");
    if (!toasts) return;
    var shown = Array.prototype.some.call(toasts.children, function (t) { return t.textContent === message; });
    if (shown) return;
    var p = document.createElement("p");
    p.className = "toast info";
    p.textContent = message;
    toasts.appendChild(p);
    setTimeout(function () { p.remove(); }, 6000);
  }

  // A date as the page writes dates (app.js's format), not the form's ISO value.
  function dateOf(iso) { return (window.facilitationDate && window.facilitationDate(iso)) || iso; }

  function listFor(kind) { return $(kind + "s-" + scope.split("/").pop()); }

  function placeholder(entry) {
    var li = document.createElement("li");
    li.id = entry.kind + "-" + entry.entity;
    li.className = "entry " + entry.kind + " pending";
    li.setAttribute("data-placeholder", entry.id);
    var main = document.createElement("div");
    main.className = "entry-main";
    var note = document.createElement("p");
    note.className = "pending-note";
    note.textContent = word("pending-create");
    var text = document.createElement("p");
    text.className = "entry-text";
    text.setAttribute("dir", "auto");
    text.textContent = entry.label;
    main.appendChild(note);
    main.appendChild(text);
    var f = entry.fields;
    if (entry.kind === "item" && (f.owner || f.due)) {
      var meta = document.createElement("p");
      meta.className = "byline";
      meta.textContent = [f.owner ? word("owner") + ": " + f.owner : "", f.due ? word("due") + ": " + dateOf(f.due) : ""]
        .filter(Boolean).join(" · ");
      main.appendChild(meta);
    }
    if (entry.kind === "role" && f.responsibility) {
      var resp = document.createElement("p");
      resp.className = "responsibility";
      resp.textContent = f.responsibility;
      main.appendChild(resp);
    }
    li.appendChild(main);
    return li;
  }

  function render() {
    if (!root) return;
    var entries = all();
    var waiting = entries.filter(function (e) { return e.state === "pending"; });
    var refused = entries.filter(function (e) { return e.state === "refused"; });

    // Marks on the board: first clear, then set from the outbox as it is now.
    document.querySelectorAll(".entry.pending").forEach(function (el) {
      var from = el.getAttribute("data-placeholder");
      if (from) {
        var still = get(from);
        if (!still || still.state !== "pending") el.remove();
        return;
      }
      el.classList.remove("pending", "deleting");
      el.querySelectorAll(".pending-note").forEach(function (n) { n.remove(); });
    });
    waiting.forEach(function (entry) {
      var el = $(entry.kind + "-" + entry.entity);
      if (entry.op === "create") {
        if (!el) {
          var list = listFor(entry.kind);
          if (list) list.appendChild(placeholder(entry));
        }
        return;
      }
      if (!el || el.hasAttribute("data-placeholder")) return;
      el.classList.add("pending");
      if (entry.op === "delete") el.classList.add("deleting");
      var note = document.createElement("p");
      note.className = "pending-note";
      note.textContent = word(entry.op === "delete" ? "pending-delete" : "pending-update") +
        (entry.op === "update" && (entry.action || entry.fields.text) ?
          ": " + (entry.action || entry.fields.text) : "");
      var main = el.querySelector(".entry-main");
      if (main) main.insertBefore(note, main.firstChild);
    });

    // The count on the sync indicator.
    var sync = $("sync");
    var count = sync && sync.querySelector(".sync-pending");
    if (count) {
      count.hidden = waiting.length === 0;
      count.textContent = waiting.length === 1 ? word("unsent-one") : word("unsent-many", { n: waiting.length });
      sync.setAttribute("data-unsent", String(waiting.length));
    }
    // A change someone else's got ahead of is settled at its entry; the rest below.
    var atEntry = refused.filter(settledAtEntry);
    renderConflicts(atEntry);
    renderRefused(refused.filter(function (e) { return atEntry.indexOf(e) < 0; }));
  }

  // -- a conflict, settled at the entry itself --------------------------------------
  // Someone else's change got there first: theirs (as saved now, the page is live)
  // and mine side by side, one message, two choices. The rest of the page goes on.

  // (Entries the room page shows: items and roles. Other pages' kinds, such as the
  // owner's progress reports, keep the panel.)
  function settledAtEntry(entry) {
    if (entry.op !== "update" || entry.status !== 409) return false;
    if (entry.kind !== "item" && entry.kind !== "role") return false;
    var el = $(entry.kind + "-" + entry.entity);
    return !!el && !el.hasAttribute("data-placeholder");
  }

  function para(cls, text) {
    var p = document.createElement("p");
    p.className = cls;
    p.setAttribute("dir", "auto");
    p.textContent = text;
    return p;
  }

  // What an entry says, field by field, as the page shows it.
  function shownFields(el, kind) {
    var out = {};
    if (kind === "item") {
      var text = el.querySelector(".entry-text");
      out.text = text ? text.textContent.trim() : "";
      var dds = el.querySelectorAll(".meta dd");
      out.owner = dds[0] ? dds[0].textContent.trim() : "";
      out.due = dds[1] ? dds[1].textContent.trim() : "";
      out.status = el.getAttribute("data-status") || "";
    } else {
      out.actor = (el.querySelector(".entry-text strong") || {}).textContent || "";
      out.role = (el.querySelector(".role-name") || {}).textContent || "";
      out.responsibility = (el.querySelector(".responsibility") || {}).textContent || "";
    }
    return out;
  }

  function sideOf(fields, kind, heading) {
    var side = document.createElement("div");
    side.className = "conflict-side";
    side.appendChild(para("conflict-label", heading));
    if (kind === "item") {
      side.appendChild(para("conflict-text", fields.text));
      var meta = [fields.owner ? word("owner") + ": " + fields.owner : "",
                  fields.due ? word("due") + ": " + fields.due : "",
                  fields.status ? word("status-" + fields.status) : ""].filter(Boolean);
      if (meta.length) side.appendChild(para("byline", meta.join(" · ")));
    } else {
      side.appendChild(para("conflict-text", [fields.actor, fields.role].filter(Boolean).join(" → ")));
      if (fields.responsibility) side.appendChild(para("byline", fields.responsibility));
    }
    return side;
  }

  function conflictBox(entry, el) {
    var theirs = shownFields(el, entry.kind);
    var mine = {};
    Object.keys(theirs).forEach(function (k) { mine[k] = theirs[k]; });
    var f = entry.fields;
    ["text", "owner", "actor", "role", "responsibility", "status"].forEach(function (k) {
      if (k in f) mine[k] = f[k];
    });
    if ("due" in f) mine.due = f.due ? dateOf(f.due) : "";
    var div = document.createElement("div");
    div.className = "conflict";
    div.setAttribute("role", "group");
    div.setAttribute("data-conflict", entry.id);
    div.setAttribute("data-theirs", el.getAttribute("data-version") || "");
    var message = para("conflict-message", word("conflict"));
    message.id = "conflict-" + entry.id;
    div.setAttribute("aria-labelledby", message.id);
    div.appendChild(message);
    var sides = document.createElement("div");
    sides.className = "conflict-sides";
    sides.appendChild(sideOf(theirs, entry.kind, word("now-saved")));
    sides.appendChild(sideOf(mine, entry.kind, word("yours")));
    div.appendChild(sides);
    var buttons = document.createElement("div");
    buttons.className = "buttons";
    var keep = button("outbox-keep", word("keep-theirs"), entry.id);
    keep.id = "keep-" + entry.id;
    var use = button("outbox-rebase", word("use-mine"), entry.id);
    use.id = "use-" + entry.id;
    use.className = "primary";
    buttons.appendChild(keep);
    buttons.appendChild(use);
    div.appendChild(buttons);
    return div;
  }

  // Keyed like the panel: a box already shown for the version now saved is left alone
  // (the focus may be on its buttons); a push that replaced the entry gets it back.
  function renderConflicts(conflicts) {
    var ids = conflicts.map(function (e) { return e.id; });
    document.querySelectorAll(".entry [data-conflict]").forEach(function (div) {
      if (ids.indexOf(div.getAttribute("data-conflict")) < 0) div.remove();
    });
    conflicts.forEach(function (entry) {
      var el = $(entry.kind + "-" + entry.entity);
      var shown = el.querySelector("[data-conflict='" + entry.id + "']");
      if (shown && shown.getAttribute("data-theirs") === el.getAttribute("data-version")) return;
      var had = shown && shown.contains(document.activeElement) ? document.activeElement.id : "";
      var fresh = conflictBox(entry, el);
      if (shown) shown.replaceWith(fresh);
      else el.insertBefore(fresh, el.querySelector(".edit-slot"));
      if (had && $(had)) $(had).focus({ preventScroll: true });
    });
  }

  // Keyed: an entry already shown is left alone (someone may be typing in it).
  function renderRefused(refused) {
    var list = $("outbox-refused");
    if (!box || !list) return;
    var ids = refused.map(function (e) { return e.id; });
    list.querySelectorAll("[data-refused]").forEach(function (li) {
      if (ids.indexOf(li.getAttribute("data-refused")) < 0) li.remove();
    });
    refused.forEach(function (entry) {
      if (list.querySelector("[data-refused='" + entry.id + "']")) return;
      list.appendChild(refusedEntry(entry));
    });
    box.hidden = refused.length === 0;
  }

  function button(action, text, id) {
    var b = document.createElement("button");
    b.type = "button";
    b.setAttribute("data-action", action);
    b.setAttribute("data-entry", id);
    b.textContent = text;
    return b;
  }

  function refusedEntry(entry) {
    var li = document.createElement("li");
    li.className = "entry refused";
    li.setAttribute("data-refused", entry.id);
    var title = document.createElement("p");
    title.className = "entry-text";
    var strong = document.createElement("strong");
    strong.textContent = word("not-saved") + ": ";
    title.appendChild(strong);
    title.appendChild(document.createTextNode(entry.label));
    var reason = document.createElement("p");
    reason.className = "form-error";
    reason.textContent = entry.reason;
    li.appendChild(title);
    li.appendChild(reason);
    var buttons = document.createElement("div");
    buttons.className = "buttons";
    if (entry.html) {
      // The server's edit form: the saved version and the person's own, side by side.
      var holder = document.createElement("div");
      holder.className = "refused-form";
      holder.innerHTML = entry.html;
      li.appendChild(holder);
    } else if (entry.op === "update" && entry.status === 409) {
      var current = $(entry.kind + "-" + entry.entity);
      var saved = current && current.querySelector(".entry-main");
      if (saved) {
        var now = document.createElement("p");
        now.className = "theirs";
        now.textContent = word("now-saved") + ": " + saved.textContent.replace(/\s+/g, " ").trim();
        li.appendChild(now);
      }
      buttons.appendChild(button("outbox-rebase", word("rebase"), entry.id));
    } else {
      buttons.appendChild(button("outbox-retry", word("retry"), entry.id));
      if (entry.op === "create") buttons.appendChild(button("outbox-refill", word("refill"), entry.id));
    }
    buttons.appendChild(button("outbox-discard", word("discard"), entry.id));
    li.appendChild(buttons);
    return li;
  }

  // -- resolving refusals -------------------------------------------------------------

  function retry(entry) {
    entry.state = "pending";
    delete entry.reason;
    delete entry.status;
    delete entry.html;
    put(entry);
    render();
    flush();
  }

  function rebase(entry) {
    var current = $(entry.kind + "-" + entry.entity);
    if (!current || current.hasAttribute("data-placeholder")) {
      entry.reason = word("gone");
      put(entry);
      return;
    }
    var body = new URLSearchParams(entry.body);
    body.set("version", current.getAttribute("data-version") || "1");
    entry.body = body.toString();
    var lost = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest("[data-conflict]");
    retry(entry);
    var menu = lost && current.querySelector(".entry-menu summary");
    if (menu) menu.focus();
  }

  function keepTheirs(entry) {
    var el = $(entry.kind + "-" + entry.entity);
    forget(entry.id);
    render();
    var menu = el && el.querySelector(".entry-menu summary");
    if (menu) menu.focus();
  }

  function refill(entry) {
    var form = $(entry.kind + "-form");
    if (!form) return;
    var f = entry.fields;
    form.querySelectorAll("input, textarea").forEach(function (field) {
      if (field.type === "checkbox") field.checked = (f.goals || []).indexOf(field.value) >= 0;
      else if (field.name in f && field.name !== "goals") field.value = f[field.name];
    });
    forget(entry.id);
    render();
    var first = form.querySelector("textarea, input:not([type=hidden])");
    if (first) first.focus();
  }

  function onClick(event) {
    var target = event.target.closest("[data-action]");
    if (!target) return;
    var action = target.getAttribute("data-action");
    var holder = target.closest("[data-refused]");
    if (action === "cancel-edit" && holder) {
      forget(holder.getAttribute("data-refused"));
      render();
      return;
    }
    var entry = get(target.getAttribute("data-entry") || "");
    if (!entry) return;
    if (action === "outbox-retry") retry(entry);
    else if (action === "outbox-rebase") rebase(entry);
    else if (action === "outbox-refill") refill(entry);
    else if (action === "outbox-discard") { forget(entry.id); render(); }
    else if (action === "outbox-keep") keepTheirs(entry);
  }

  // -- wiring -------------------------------------------------------------------------

  function start() {
    root = document.querySelector(".live-root[data-outbox]");
    if (!root) return;
    scope = root.getAttribute("data-outbox");
    box = $("outbox");
    // A create the server already shows was stored before the page went away:
    // nothing is left to send for it.
    all().forEach(function (entry) {
      if (entry.op === "create" && entry.state === "pending") {
        var el = $(entry.kind + "-" + entry.entity);
        if (el && !el.hasAttribute("data-placeholder")) forget(entry.id);
      }
    });
    // Capture phase: the outbox takes the submit before htmx sees it.
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.matches || !form.matches("form[data-outbox]")) return;
      event.preventDefault();
      event.stopPropagation();
      var question = form.getAttribute("hx-confirm");
      if (question && !window.confirm(question)) return;
      enqueue(form, event.submitter);
    }, true);
    document.addEventListener("click", onClick);
    window.addEventListener("online", resendNow);
    document.addEventListener("facilitation:live", resendNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") resendNow();
    });
    // Pushes replace entries wholesale; put the "not sent yet" marks back.
    document.body.addEventListener("htmx:wsAfterMessage", render);
    document.body.addEventListener("htmx:afterSwap", render);
    window.addEventListener("storage", function (event) {
      if (event.key && event.key.indexOf(PREFIX + scope + ":") === 0) { render(); flush(); }
    });
    render();
    flush();
  }

  window.facilitationOutbox = { pending: function () { return pending().length; }, flush: flush };
  document.addEventListener("DOMContentLoaded", start);
})();
