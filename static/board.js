/* The projected board (templates/plenary*): type as large as the screen allows, and
   pages when even the smallest readable type cannot hold the view.

   - The view sets the largest base size (data-fit-max, in % of the screen height);
     the floor is 18 px, or 2.2 % of the screen height where that is more.
   - Every [data-fit-box] (a card, a list, the view itself) must hold its content with
     no overflow either way. A binary search on --fs, the base size every other size
     is relative to, finds the largest that fits.
   - When the floor does not fit, each box splits its own [data-page-item]s into pages
     (data-keep-next keeps a heading with what follows it), the type grows again as far
     as that keeps the same number of pages, and the board turns the pages at a steady
     rhythm, with the page shown in the top bar.

   Sizes are set through the CSSOM (style.setProperty), which the Content-Security-Policy
   allows for scripts from our own origin; there is no inline style in the markup. */
(function () {
  "use strict";

  var FLOOR_PX = 18;        // the least any text on the board may be
  var READABLE = 0.022;     // ...or this share of the screen height, where that is more
  var PAGE_MS = 12000;      // one page's time on screen
  var page = 0;
  var pageCount = 1;
  var turning = null;
  var fitting = false;

  function main() { return document.querySelector(".pl-main"); }
  function view() { return document.getElementById("plenary-view"); }

  function floorPx() { return Math.max(FLOOR_PX, window.innerHeight * READABLE); }
  function maxPx(v) {
    var share = parseFloat(v.getAttribute("data-fit-max") || "6");
    return Math.max(floorPx(), window.innerHeight * share / 100);
  }
  function setSize(px) { main().style.setProperty("--fs", px.toFixed(2) + "px"); }

  function boxes(v) {
    return [v].concat(Array.prototype.slice.call(v.querySelectorAll("[data-fit-box]")));
  }
  function overflows(el) {
    return el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
  }
  function fits(v) {
    var doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth || doc.scrollHeight > window.innerHeight) return false;
    return !boxes(v).some(overflows);
  }
  // A box's own page items: not those of a box inside it.
  function itemsOf(box) {
    return Array.prototype.filter.call(box.querySelectorAll("[data-page-item]"), function (el) {
      return el.parentElement.closest("[data-fit-box]") === box;
    });
  }

  function unpage(v) {
    boxes(v).forEach(function (box) {
      box.classList.remove("paged");
      box.removeAttribute("data-pages");
      box.removeAttribute("data-page");
      delete box.pages;
    });
    v.querySelectorAll("[data-page-item][hidden]").forEach(function (el) { el.hidden = false; });
  }

  // Split one box's items into pages that each fit: measured with every item shown,
  // then checked page by page (and an item moved on where the check fails).
  function paginate(box) {
    var items = itemsOf(box);
    if (!items.length || !overflows(box)) return [items];
    box.classList.add("paged");  // room for the box's own "1 / 2"
    var style = getComputedStyle(box);
    var padTop = parseFloat(style.paddingTop), padBottom = parseFloat(style.paddingBottom);
    var origin = box.getBoundingClientRect().top + box.clientTop + padTop - box.scrollTop;
    var room = box.clientHeight - padTop - padBottom;
    var tops = items.map(function (el) { return el.getBoundingClientRect().top - origin; });
    var bottoms = items.map(function (el) { return el.getBoundingClientRect().bottom - origin; });
    var lead = tops[0];  // what comes before the first item stays on every page
    var pages = [];
    var current = [];
    var shift = 0;
    items.forEach(function (el, i) {
      if (current.length && bottoms[i] - shift > room) {
        // A heading goes with what follows it.
        var carried = [];
        while (current.length > 1 && current[current.length - 1].hasAttribute("data-keep-next")) {
          carried.unshift(current.pop());
        }
        pages.push(current);
        current = carried;
        var first = current.length ? items.indexOf(current[0]) : i;
        shift = tops[first] - lead;
      }
      current.push(el);
    });
    if (current.length) pages.push(current);
    // Check each page as it will be shown; carry its last item on while it overflows.
    for (var p = 0; p < pages.length && p < 200; p++) {
      showPage(items, pages[p]);
      while (pages[p].length > 1 && overflows(box)) {
        var moved = pages[p].pop();
        if (p + 1 === pages.length) pages.push([]);
        pages[p + 1].unshift(moved);
        showPage(items, pages[p]);
      }
    }
    return pages;
  }
  function showPage(items, shown) {
    items.forEach(function (el) { el.hidden = shown.indexOf(el) < 0; });
  }

  // Page every box that needs it at the current size; the number of board pages.
  function paginateAll(v) {
    unpage(v);
    var most = 1;
    boxes(v).forEach(function (box) {
      var pages = paginate(box);
      if (pages.length > 1) {
        box.pages = pages;
        box.setAttribute("data-pages", String(pages.length));
        most = Math.max(most, pages.length);
      }
    });
    return most;
  }

  // Each paged box shows the board's page, or its own last one when it has fewer.
  function show(v, n) {
    boxes(v).forEach(function (box) {
      if (!box.pages) return;
      var own = Math.min(n, box.pages.length - 1);
      showPage(itemsOf(box), box.pages[own]);
      box.setAttribute("data-page", String(own + 1));
    });
    v.setAttribute("data-page", String(n + 1));
    v.setAttribute("data-pages", String(pageCount));
    indicator(n);
  }

  function indicator(n) {
    var pager = document.getElementById("pl-pager");
    if (!pager) return;
    pager.hidden = pageCount < 2;
    if (pageCount < 2) return;
    var label = pager.getAttribute("data-label") || "{n} / {count}";
    pager.querySelector(".pl-pager-text").textContent =
      label.replace("{n}", String(n + 1)).replace("{count}", String(pageCount));
    var dots = pager.querySelector(".pl-pager-dots");
    dots.hidden = pageCount > 12;  // beyond a dozen, the words say it better than dots
    if (dots.children.length !== pageCount) {
      dots.textContent = "";
      for (var i = 0; i < pageCount; i++) dots.appendChild(document.createElement("span"));
    }
    Array.prototype.forEach.call(dots.children, function (dot, i) {
      dot.classList.toggle("on", i === n);
    });
  }

  // Restart the bar that fills while a page is on screen.
  function restartBar() {
    var bar = document.querySelector("#pl-pager .pl-pager-bar");
    if (!bar) return;
    bar.style.setProperty("--page-ms", PAGE_MS + "ms");
    bar.classList.remove("running");
    void bar.offsetWidth;  // a new animation, not the old one resumed
    bar.classList.add("running");
  }

  function fit() {
    var v = view();
    if (!v || !main() || fitting) return;
    fitting = true;
    try {
      var lo = floorPx(), hi = maxPx(v);
      var count = 1;
      unpage(v);
      setSize(hi);
      if (!fits(v)) {
        setSize(lo);
        if (fits(v)) {
          // The largest size that fits, to half a pixel.
          while (hi - lo > 0.5) {
            var mid = (lo + hi) / 2;
            setSize(mid);
            if (fits(v)) lo = mid; else hi = mid;
          }
          setSize(lo);
        } else {
          // Pages: as few as the floor needs, at the largest size that needs no more.
          var needed = paginateAll(v);
          for (var step = 0; step < 6 && hi - lo > 1; step++) {
            var size = (lo + hi) / 2;
            setSize(size);
            if (paginateAll(v) <= needed) lo = size; else hi = size;
          }
          setSize(lo);
          count = paginateAll(v);
        }
      }
      pageCount = count;
      if (page >= pageCount) page = 0;
      show(v, page);
      schedule();
      v.setAttribute("data-fitted", "");  // for the tests: this view has been fitted
    } finally {
      fitting = false;
    }
  }

  function schedule() {
    if (pageCount < 2) {
      if (turning) { clearInterval(turning); turning = null; }
      return;
    }
    if (turning) return;  // a live update keeps the rhythm, it does not restart it
    restartBar();
    turning = setInterval(function () {
      var v = view();
      if (!v || pageCount < 2) return;
      page = (page + 1) % pageCount;
      show(v, page);
      restartBar();
    }, PAGE_MS);
  }

  // For the browser tests: turn to a page now (as the rhythm would), and how many there are.
  window.facilitationBoard = {
    pages: function () { return pageCount; },
    show: function (n) { var v = view(); if (v && n < pageCount) { page = n; show(v, n); } }
  };

  var queued = false;
  function refit() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; fit(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!view()) return;
    fit();
    // A new view, its content loaded (the join codes), a message in the top bar that
    // takes a second line, a resized window: fit again.
    document.body.addEventListener("htmx:afterSettle", function (event) {
      // Not the presence poll's counters (every 3 s, digits only): a new view, or
      // content loaded into this one.
      var v = view();
      var inside = v && event.target && v.contains(event.target);
      if (v && (!v.hasAttribute("data-fitted") || inside)) refit();
    });
    if (window.ResizeObserver) new ResizeObserver(refit).observe(main());
    window.addEventListener("resize", refit);
    if (document.fonts && document.fonts.ready) document.fonts.ready.then(refit);
  });
})();
