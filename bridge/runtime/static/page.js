// presence-bridge status page: one EventSource ("events"), rows kept in memory, and only the rows
// in view are in the DOM (10,000 people scroll like 10). Data goes in with textContent, never as
// HTML. No libraries, no build step.
"use strict";

(function () {
  const COLUMNS = ["name", "ext", "pbx", "desired", "teams", "why", "since"];
  const $ = (id) => document.getElementById(id);
  const viewport = $("viewport");
  const spacer = $("spacer");
  const visible = $("visible");
  const state = { rows: [], view: [], filter: "all", query: "", header: null };
  let rowHeight = 34;
  let scheduled = false;

  function measure() {
    const value = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--row-h"));
    rowHeight = value > 0 ? value : 34;
  }

  function searchable(row) {
    return [row.person, row.ext, row.pbx, row.desired, row.teams, row.why, row.state].join(" ").toLowerCase();
  }

  function matches(row) {
    if (state.filter !== "all" && !row.flags.includes(state.filter)) return false;
    return !state.query || row._text.includes(state.query);
  }

  function refilter() {
    const view = [];
    for (let i = 0; i < state.rows.length; i++) if (matches(state.rows[i])) view.push(i);
    state.view = view;
    spacer.style.height = view.length * rowHeight + "px";
    $("shown").textContent = view.length === state.rows.length
      ? `${view.length} people`
      : `${view.length} of ${state.rows.length} people shown`;
    schedule();
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; render(); });
  }

  function since(text) {
    if (!text) return "";
    const at = new Date(text);
    const today = new Date();
    return at.toDateString() === today.toDateString()
      ? at.toLocaleTimeString([], { hour12: false })
      : at.toLocaleDateString();
  }

  function cellText(row, column) {
    if (column === "name") return row.person;
    if (column === "since") return since(row.since);
    if (column === "why") return row.state ? `${row.why} [${row.state}]` : row.why;
    return row[column];
  }

  function makeRow() {
    const el = document.createElement("div");
    el.setAttribute("role", "listitem");
    const lamp = document.createElement("span");
    el.appendChild(lamp);
    for (const column of COLUMNS) {
      const cell = document.createElement("span");
      cell.className = column;
      el.appendChild(cell);
    }
    return el;
  }

  function render() {
    const first = Math.max(0, Math.floor(viewport.scrollTop / rowHeight) - 2);
    const count = Math.ceil(viewport.clientHeight / rowHeight) + 5;
    const last = Math.min(state.view.length, first + count);
    while (visible.children.length < last - first) visible.appendChild(makeRow());
    while (visible.children.length > last - first) visible.lastChild.remove();
    visible.style.transform = `translateY(${first * rowHeight}px)`;
    for (let n = first; n < last; n++) {
      const row = state.rows[state.view[n]];
      const el = visible.children[n - first];
      el.className = "row" + (row.flags.includes("problem") ? " problem" : "");
      el.dataset.person = row.person;
      el.dataset.lamp = row.lamp;
      el.title = row.since ? `since ${row.since}` : "";
      el.children[0].className = "lamp " + row.lamp;
      for (let c = 0; c < COLUMNS.length; c++) {
        const text = cellText(row, COLUMNS[c]) || "";
        if (el.children[c + 1].textContent !== text) el.children[c + 1].textContent = text;
      }
    }
  }

  function chip(text, kind) {
    const el = document.createElement("span");
    el.className = "chip " + kind;
    el.textContent = text;
    return el;
  }

  function renderHeader(header) {
    state.header = header;
    const overall = $("overall");
    overall.className = "chip " + header.overall;
    overall.textContent = header.overall;
    $("components").replaceChildren(
      ...Object.entries(header.components).map(([name, health]) => chip(`${name}: ${health}`, health))
    );
    $("tenants").replaceChildren(
      ...Object.entries(header.tenants).map(([name, t]) => chip(
        `${name}: budget ${t.budget_used}/${t.budget_limit} per 30 s · ${t.live_sessions} live sessions` +
        ` · ${t.pending} pending` + (t.quarantined ? ` · ${t.quarantined} quarantined` : ""), "tenant"
      ))
    );
    $("alarms").replaceChildren(...header.alarms.map((alarm) => {
      const li = document.createElement("li");
      li.textContent = alarm;
      return li;
    }));
    $("n-all").textContent = header.people;
    for (const flag of ["call", "dnd", "problem"]) $("n-" + flag).textContent = header.counts[flag];
  }

  function take(row) {
    row._text = searchable(row);
    return row;
  }

  function connect() {
    const live = $("live");
    const source = new EventSource("events");
    source.onopen = () => { live.textContent = "● live"; live.className = "live on"; };
    source.onerror = () => { live.textContent = "○ reconnecting…"; live.className = "live"; };
    source.addEventListener("snapshot", (event) => {
      const data = JSON.parse(event.data);
      state.rows = data.rows.map(take);
      renderHeader(data.header);
      refilter();
      document.body.dataset.loaded = String(state.rows.length);
    });
    source.addEventListener("rows", (event) => {
      const changed = JSON.parse(event.data);
      for (const [index, row] of Object.entries(changed)) state.rows[Number(index)] = take(row);
      refilter();
    });
    source.addEventListener("header", (event) => renderHeader(JSON.parse(event.data)));
  }

  $("search").addEventListener("input", (event) => {
    state.query = event.target.value.trim().toLowerCase();
    viewport.scrollTop = 0;
    refilter();
  });
  $("filters").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    state.filter = button.dataset.filter;
    for (const b of $("filters").children) b.classList.toggle("on", b === button);
    viewport.scrollTop = 0;
    refilter();
  });
  viewport.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", () => { measure(); refilter(); });
  measure();
  connect();
})();
