// Open a row to see its details; sort by any column; filter by status (or kind) and name.
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll("tbody.item"));
  var table = document.querySelector("table[data-sortable]");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter]"));
  var search = document.getElementById("filter-text");
  var shown = document.getElementById("shown");

  function setOpen(item, open) {
    item.classList.toggle("open", open);
    var toggle = item.querySelector(".toggle");
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open]");
    if (opener) {
      var open = opener.getAttribute("data-open") === "all";
      items.forEach(function (item) { if (!item.hidden) setOpen(item, open); });
      return;
    }
    var row = event.target.closest("tr.head-row");
    if (row && !event.target.closest("a")) setOpen(row.parentNode, !row.parentNode.classList.contains("open"));
  });

  function sortBy(header, column) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var numeric = header.getAttribute("data-type") === "number";
    var keyed = items.map(function (item, index) {
      var cell = item.rows[0].cells[column];
      var value = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
      return { item: item, index: index, value: value };
    });
    keyed.sort(function (a, b) {
      var blanks = (a.value === "") - (b.value === "");  // empty cells last, either way
      if (blanks) return blanks;
      var order = numeric ? a.value - b.value : a.value.localeCompare(b.value, undefined, { numeric: true });
      return (ascending ? order : -order) || a.index - b.index;
    });
    keyed.forEach(function (entry) { table.appendChild(entry.item); });
  }

  if (table) {
    table.querySelectorAll("thead th").forEach(function (th, column) {
      var button = th.querySelector("button");
      if (button) button.addEventListener("click", function () { sortBy(th, column); });
    });
  }

  function applyFilters() {
    var wanted = {};
    boxes.forEach(function (box) { wanted[box.value] = box.checked; });
    var text = search ? search.value.trim().toLowerCase() : "";
    var count = 0;
    items.forEach(function (item) {
      var visible = wanted[item.getAttribute("data-filter-key")] !== false &&
        (item.getAttribute("data-name") || "").toLowerCase().indexOf(text) !== -1;
      item.hidden = !visible;
      if (visible) count += 1;
    });
    if (shown) shown.textContent = count + " of " + items.length + " shown";
  }

  boxes.forEach(function (box) { box.addEventListener("change", applyFilters); });
  if (search) search.addEventListener("input", applyFilters);

  // A link to a row (report.html#model-3) opens it; #open=model-3,model-5 opens rows
  // without scrolling to them.
  function openFromHash() {
    var hash = decodeURIComponent(location.hash.slice(1));
    var ids = hash.indexOf("open=") === 0 ? hash.slice(5).split(",") : [hash];
    ids.forEach(function (id) {
      var target = id ? document.getElementById(id) : null;
      if (target && target.matches("tbody.item")) setOpen(target, true);
    });
  }
  window.addEventListener("hashchange", openFromHash);
  applyFilters();
  openFromHash();
})();
