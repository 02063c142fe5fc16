// Live queue updates (server-sent events) and keyboard shortcuts. No build step.
(function () {
  "use strict";

  function refreshQueue() {
    htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#queue", select: "#queue", swap: "outerHTML" });
  }

  function listen() {
    var queue = document.getElementById("queue");
    if (!queue || !window.EventSource) return;
    var source = new EventSource(queue.dataset.live);
    source.addEventListener("alert", function (event) {
      var current = document.getElementById("queue");
      if (current && Number(event.data) > Number(current.dataset.latest)) refreshQueue();
    });
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue tr[data-href]")); }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.findIndex(function (row) { return row.classList.contains("selected"); });
    all.forEach(function (row) { row.classList.remove("selected"); });
    var next = all[Math.max(0, Math.min(all.length - 1, index + step))];
    next.classList.add("selected");
    next.scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  var HELP = "j / k  next / previous alert\nEnter  open the selected alert\nf  false positive (type the reason)\n" +
    "n  no concern\nm  monitor\ni  raise incident\na  take (assign to me)\nu  back to the queue\n/  filters";

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (key === "j") return move(1);
    if (key === "k") return move(-1);
    if (key === "Enter") {
      var selected = document.querySelector("#queue tr.selected");
      if (selected) window.location = selected.dataset.href;
      return;
    }
    if (key === "?") return window.alert(HELP);
    if (key === "/") {
      var filter = document.querySelector(".filters select");
      if (filter) { event.preventDefault(); filter.focus(); }
      return;
    }
    if (key === "f") {
      var reason = document.getElementById("reason");
      if (reason) { event.preventDefault(); reason.focus(); reason.dataset.pending = "false_positive"; }
      return;
    }
    var button = document.querySelector('[data-key="' + key + '"]');
    if (button) { event.preventDefault(); button.click(); }
  });

  // After "f", Enter in the reason field submits as a false positive.
  document.addEventListener("keydown", function (event) {
    var reason = event.target;
    if (event.key !== "Enter" || reason.id !== "reason" || reason.dataset.pending !== "false_positive") return;
    event.preventDefault();
    document.querySelector('[data-key="f"]').click();
  });

  document.addEventListener("click", function (event) {
    var row = event.target.closest("#queue tr[data-href]");
    if (row && !event.target.closest("a")) window.location = row.dataset.href;
  });

  document.addEventListener("DOMContentLoaded", listen);
})();
