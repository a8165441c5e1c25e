// The webchat-async console. Plain JavaScript, no library, nothing from another host.
// Every text from the simulator goes into the page with textContent: texts come from
// guests and bots, and are never markup.
"use strict";

(function () {
  const TOKEN_KEY = "webchat-async-console-token";
  const MAX_ROWS = 500;
  const MAX_ENTRIES = 2000;
  const $ = (id) => document.getElementById(id);

  let selected = null;      // the followed conversation's id
  let rows = new Map();     // id -> row data
  let lastSeq = 0;          // the newest timeline entry shown
  let controller = null;    // aborts the current stream
  let retry = 0;            // reconnect attempts since the last good stream
  let faultsShown = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const t = token();
    if (t) h["Authorization"] = "Bearer " + t;
    return h;
  }

  function setStatus(state, text) {
    const s = $("status");
    s.dataset.state = state;
    s.textContent = text;
  }

  function showError(text) {
    $("error").textContent = text || "";
  }

  function askToken() {
    setStatus("offline", "admin token needed");
    const dialog = $("token-dialog");
    if (!dialog.open) dialog.showModal();
  }

  // -- the stream (server-sent events read with fetch, so that it can carry a token) --

  function parseBlock(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return null;
    return { name: name, data: JSON.parse(data.join("\n")) };
  }

  async function follow() {
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    const query = selected ? "?conversation=" + encodeURIComponent(selected) : "";
    let response;
    try {
      response = await fetch("/console/api/stream" + query, {
        headers: headers(), signal: mine.signal, cache: "no-store",
      });
    } catch (err) {
      if (mine.signal.aborted) return;
      return reconnectLater();
    }
    if (response.status === 401) return askToken();
    if (response.status === 404 && selected) {
      select(null);
      return;
    }
    if (!response.ok || !response.body) return reconnectLater();
    setStatus("live", "live");
    retry = 0;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parseBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event) handle(event.name, event.data);
        }
      }
    } catch (err) {
      if (mine.signal.aborted) return;
    }
    if (controller === mine) reconnectLater();
  }

  function reconnectLater() {
    setStatus("offline", "offline: reconnecting");
    // Backoff (1 s, 2 s ... 10 s): the stream ended, e.g. the simulator restarted.
    retry = Math.min(retry + 1, 10);
    setTimeout(follow, 1000 * retry);
  }

  function handle(name, data) {
    if (name === "snapshot") snapshot(data);
    else if (name === "entries") entries(data);
    else if (name === "rows") data.rows.forEach(upsertRow);
  }

  function snapshot(data) {
    $("base-url").textContent = data.baseUrl;
    if (!faultsShown) {
      data.faults.forEach((fault) => {
        const button = el("button", "fault", fault.button);
        button.type = "button";
        button.title = fault.label;
        button.dataset.fault = fault.name;
        button.addEventListener("click", () => injectFault(fault.name));
        $("faults").appendChild(button);
      });
      faultsShown = true;
    }
    rows = new Map();
    $("conversations").tBodies[0].replaceChildren();
    data.rows.slice().reverse().forEach(upsertRow);
    updateEmpty();
    $("timeline").replaceChildren();
    lastSeq = 0;
    if (data.conversationId && data.conversationId === selected) {
      appendEntries(data.timeline);
    }
    renderView();
  }

  function entries(data) {
    if (data.conversationId !== selected) return;
    appendEntries(data.entries);
  }

  // -- the list ---------------------------------------------------------------------

  function memberText(members) {
    return members.map((m) => m.name + " (" + m.role.toLowerCase() + ", " + m.state.toLowerCase() + ")").join(", ");
  }

  function upsertRow(row) {
    const body = $("conversations").tBodies[0];
    let tr = body.querySelector('tr[data-id="' + CSS.escape(row.id) + '"]');
    if (!tr) {
      tr = el("tr");
      tr.dataset.id = row.id;
      tr.addEventListener("click", () => select(row.id));
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > MAX_ROWS) {
        const last = body.rows[body.rows.length - 1];
        rows.delete(last.dataset.id);
        last.remove();
      }
    }
    rows.set(row.id, row);
    const state = el("td", "state-" + row.state, row.state);
    const protocol = el("td");
    protocol.appendChild(el("span", "badge", row.protocol === "messaging" ? "Web Messaging" : "Web Chat v2"));
    const members = el("td", null, memberText(row.members));
    members.title = memberText(row.members);
    const guest = el("td", "guest", row.guest);
    guest.title = row.id;
    tr.replaceChildren(guest, protocol, state, members,
      el("td", null, row.messageCount), el("td", null, row.sockets));
    tr.setAttribute("aria-selected", String(row.id === selected));
    updateEmpty();
    if (row.id === selected) renderView();
  }

  function updateEmpty() {
    $("empty").hidden = rows.size > 0;
    $("count").textContent = rows.size ? "(" + rows.size + ")" : "";
  }

  function select(id) {
    selected = id;
    history.replaceState(null, "", id ? "#c=" + encodeURIComponent(id) : "#");
    for (const tr of $("conversations").tBodies[0].rows) {
      tr.setAttribute("aria-selected", String(tr.dataset.id === id));
    }
    $("timeline").replaceChildren();
    lastSeq = 0;
    showError("");
    renderView();
    follow();
  }

  // -- the conversation -------------------------------------------------------------

  function renderView() {
    const pane = $("view-pane");
    const row = selected ? rows.get(selected) : null;
    pane.hidden = !selected;
    if (!selected) return;
    $("view-title").textContent = row ? row.guest + ": " + selected : selected;
    $("view-meta").textContent = row
      ? [row.protocol === "messaging" ? "Web Messaging" : "Web Chat v2", row.state,
         row.messageCount + " messages", row.sockets + " socket(s) open",
         memberText(row.members)].join(" · ")
      : "";
    const ended = !row || row.state === "ended";
    for (const id of ["send", "typing", "end", "reply"]) $(id).disabled = ended;
    $("media").disabled = ended || row.protocol === "messaging";
  }

  function time(at) {
    const match = /T(\d\d:\d\d:\d\d)/.exec(at || "");
    return match ? match[1] : "";
  }

  function appendEntries(list) {
    const timeline = $("timeline");
    const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
    for (const entry of list) {
      if (entry.seq <= lastSeq) continue;
      lastSeq = entry.seq;
      const li = el("li", "kind-" + entry.kind + " who-" + entry.who);
      li.dataset.kind = entry.kind;
      li.appendChild(el("span", "at", time(entry.at)));
      const body = el("span", "body");
      if (entry.kind === "message" && entry.name) body.appendChild(el("span", "name", entry.name));
      body.appendChild(el("span", "text", entry.text));
      li.appendChild(body);
      timeline.appendChild(li);
    }
    while (timeline.children.length > MAX_ENTRIES) timeline.firstChild.remove();
    if (atBottom) timeline.scrollTop = timeline.scrollHeight;
  }

  // -- actions ----------------------------------------------------------------------

  async function post(url, body) {
    showError("");
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(body),
      });
    } catch (err) {
      showError("The simulator did not answer.");
      return false;
    }
    if (response.status === 401) {
      askToken();
      return false;
    }
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try {
        const answer = await response.json();
        if (answer && answer.message) message = answer.message;
      } catch (err) { /* not JSON */ }
      showError(message);
      return false;
    }
    return true;
  }

  function agent(action, extra) {
    if (!selected) return Promise.resolve(false);
    const url = "/__simulator__/conversations/" + encodeURIComponent(selected) + "/agent";
    return post(url, Object.assign({ action: action }, extra || {}));
  }

  function injectFault(name) {
    if (!selected) return;
    post("/console/api/conversations/" + encodeURIComponent(selected) + "/faults", { fault: name });
  }

  async function download(kind) {
    if (!selected) return;
    const name = kind === "json" ? "export.json" : "transcript.txt";
    const response = await fetch(
      "/console/api/conversations/" + encodeURIComponent(selected) + "/" + name,
      { headers: headers(), cache: "no-store" });
    if (response.status === 401) return askToken();
    if (!response.ok) return showError("Export failed: " + response.status);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a");
    link.href = url;
    link.download = "conversation-" + selected + (kind === "json" ? ".json" : ".txt");
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function start() {
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = $("reply").value;
      if (!text.trim()) return;
      if (await agent("say", { text: text })) $("reply").value = "";
    });
    $("reply").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        $("composer").requestSubmit();
      }
    });
    $("typing").addEventListener("click", () => agent("typing"));
    $("media").addEventListener("click", () => agent("request_media", { types: ["COBROWSE"] }));
    $("end").addEventListener("click", () => agent("end"));
    $("export-json").addEventListener("click", () => download("json"));
    $("export-transcript").addEventListener("click", () => download("transcript"));
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      $("token-dialog").close();
      follow();
    });
    const match = /^#c=(.+)$/.exec(location.hash);
    selected = match ? decodeURIComponent(match[1]) : null;
    renderView();
    follow();
  }

  start();
})();
