// Streamflix dashboards: fetch the query API with the bearer token and draw
// with Chart.js (vendored, served by the binary). The token comes from
// `#token=...` in the address (never sent to the server in the URL) or the
// form, and is kept in sessionStorage for the tab only.
"use strict";

const Dash = (() => {
  const rendered = {};

  function token() {
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get("token")) {
      sessionStorage.setItem("streamflix-token", hash.get("token"));
      history.replaceState(null, "", location.pathname);
    }
    return sessionStorage.getItem("streamflix-token");
  }

  async function api(path) {
    const response = await fetch(path, {
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
    });
    if (response.status === 404) return null;
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(path + ": " + response.status + " " + (body.error || ""));
    }
    return response.json();
  }

  function num(value) {
    return value === null || value === undefined ? null : Number(value);
  }

  // Draws a chart and records what it drew, for the browser test.
  function chart(id, type, labels, datasets, title) {
    const canvas = document.getElementById(id);
    const instance = new Chart(canvas, {
      type,
      data: { labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { title: { display: true, text: title } },
      },
    });
    rendered[id] = {
      labels: instance.data.labels.slice(),
      datasets: instance.data.datasets.map((d) => ({ label: d.label, data: d.data.slice() })),
      drawn: instance.chartArea !== undefined && instance.chartArea !== null && canvas.width > 0,
    };
    return instance;
  }

  function note(id, text) {
    document.getElementById(id).textContent = text;
  }

  function table(id, columns, rows) {
    const element = document.getElementById(id);
    element.innerHTML = "";
    const head = element.createTHead().insertRow();
    columns.forEach((c) => (head.insertCell().textContent = c));
    const body = element.createTBody();
    rows.forEach((row) => {
      const line = body.insertRow();
      columns.forEach((c) => {
        const cell = line.insertCell();
        cell.textContent = row[c] === null || row[c] === undefined ? "" : String(row[c]);
        if (c === "status") cell.className = "status-" + row[c];
      });
    });
  }

  function finish(error) {
    const out = document.getElementById("rendered");
    out.textContent = JSON.stringify({ charts: rendered, error: error ? String(error) : null });
    document.body.dataset.ready = error ? "error" : "yes";
    if (error) note("problem", String(error));
  }

  async function run(draw) {
    if (!token()) {
      document.getElementById("login").hidden = false;
      document.getElementById("login").onsubmit = (event) => {
        event.preventDefault();
        sessionStorage.setItem("streamflix-token", document.getElementById("token").value.trim());
        location.reload();
      };
      return;
    }
    try {
      const who = await api("/v1/whoami");
      note("who", who.name + " (" + who.role + ")");
      await draw();
      finish(null);
    } catch (error) {
      finish(error);
    }
  }

  return { api, chart, note, num, run, table };
})();
