/* The downloads page: refreshes the progress of unfinished packages (portal/downloads_pages.py). */
(function () {
  "use strict";
  var text = JSON.parse(document.getElementById("download-labels").textContent);
  var labels = text.states, downloadLabel = text.download;
  function refresh(row) {
    fetch(row.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        row.querySelector(".state").textContent = labels[job.state] || job.state;
        var bar = row.querySelector(".progress");
        bar.setAttribute("aria-valuenow", job.progress);
        bar.firstElementChild.style.width = job.progress + "%";
        row.querySelector(".rows").textContent = Number(job.rows_total).toLocaleString();
        if (job.error) { row.querySelector(".error").textContent = job.error; }
        if (job.file) {
          var link = document.createElement("a");
          link.href = job.file; link.textContent = downloadLabel; link.setAttribute("download", "");
          var cell = row.querySelector(".file"); cell.textContent = ""; cell.appendChild(link);
        }
        if (job.state === "queued" || job.state === "running") {
          setTimeout(function () { refresh(row); }, 1500);
        }
      })
      .catch(function () { setTimeout(function () { refresh(row); }, 5000); });
  }
  document.querySelectorAll("tr[data-pending]").forEach(function (row) {
    setTimeout(function () { refresh(row); }, 1000);
  });
})();
