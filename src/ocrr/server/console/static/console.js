// OCRR review console: the queue's keyboard, the label picker, verify and "try a text".
// No library. User data only ever enters the page through textContent (or as HTML the
// server rendered with escaping).
(function () {
  "use strict";

  const body = document.body;
  const ns = body.dataset.ns;
  const canWrite = body.dataset.canWrite === "true";
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  async function call(method, url, data) {
    const options = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (data !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(data);
    }
    const answer = await fetch(url, options);
    let parsed = null;
    try { parsed = await answer.json(); } catch (e) { parsed = null; }
    if (!answer.ok) {
      if (answer.status === 401) window.location.assign("/login");
      throw new Error((parsed && parsed.message) || ("HTTP " + answer.status));
    }
    return parsed;
  }

  function pct(x) { return Math.round(100 * x) + "%"; }

  // -- verify (ledger and entry pages) ------------------------------------------------------
  const verifyButton = document.getElementById("verify");
  if (verifyButton) {
    const result = document.getElementById("verify-result");
    verifyButton.addEventListener("click", async function () {
      verifyButton.disabled = true;
      result.className = "result";
      result.textContent = "verifying…";
      const query = new URLSearchParams({ size: verifyButton.dataset.size, root: verifyButton.dataset.root });
      try {
        const v = await call("GET", "/ns/" + ns + "/verify?" + query.toString());
        result.className = "result " + (v.ok ? "ok" : "bad");
        result.textContent = v.ok
          ? "✓ Verified: " + v.size.toLocaleString() + " entries re-hashed, chain intact, extends this head (" + v.seconds.toFixed(2) + " s)"
          : "✗ Verification failed" + (v.first_bad_seq !== null ? " at entry " + v.first_bad_seq : "") + ": " + v.reason;
      } catch (err) {
        result.className = "result bad";
        result.textContent = "✗ " + err.message;
      } finally {
        verifyButton.disabled = false;
      }
    });
  }

  // -- the queue ----------------------------------------------------------------------------
  const list = document.getElementById("queue");
  if (!list) return;
  const statusLine = document.getElementById("status");
  const countBadge = document.getElementById("queue-count");
  const emptyNote = document.getElementById("queue-empty");
  const picker = document.getElementById("picker");
  const pickerInput = document.getElementById("picker-input");
  const pickerList = document.getElementById("picker-list");
  const effect = document.getElementById("effect");
  let labels = [];
  let selectedId = null;
  let pickerFor = null;
  let pickerMatches = [];
  let pickerActive = -1;
  let refreshing = false;
  let inFlight = 0;
  let stale = false;

  function status(text, kind) {
    statusLine.className = "status" + (kind ? " " + kind : "");
    statusLine.textContent = text;
  }

  function readMeta() {
    const meta = list.querySelector("li.meta");
    if (!meta) return;
    try { labels = JSON.parse(meta.dataset.labels || "[]"); } catch (e) { labels = []; }
    setCount(Number(meta.dataset.queued || 0));
  }

  function setCount(n) { countBadge.textContent = n.toLocaleString(); }

  function items() { return Array.from(list.querySelectorAll("li.item:not(.done)")); }

  function byId(id) { return list.querySelector('li.item[data-id="' + CSS.escape(String(id)) + '"]'); }

  function select(item) {
    list.querySelectorAll("li.item.selected").forEach(function (n) { n.classList.remove("selected"); });
    if (!item) { selectedId = null; emptyNote.hidden = items().length > 0; return; }
    item.classList.add("selected");
    selectedId = item.dataset.id;
    item.scrollIntoView({ block: "nearest" });
    emptyNote.hidden = true;
  }

  function selected() { return selectedId === null ? null : byId(selectedId); }

  function move(step) {
    const all = items();
    if (!all.length) return;
    const at = all.indexOf(selected());
    select(all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))]);
  }

  function nextAfter(item) {
    const all = items();
    const at = all.indexOf(item);
    return all[at + 1] || all[at - 1] || null;
  }

  function showEffect(answer, label) {
    const title = document.getElementById("effect-title");
    const effectList = document.getElementById("effect-list");
    effectList.replaceChildren();
    const n = answer.changed.length;
    title.textContent = n === 0
      ? "No other queued prediction changed."
      : "This correction changed " + n + " queued prediction" + (n === 1 ? "" : "s") + ":";
    answer.changed.forEach(function (c) {
      const li = el("li");
      li.append(el("span", "text", "“" + c.text + "” "), el("span", "", "was "), el("strong", "", c.was),
                el("span", "", " → now "), el("strong", "", c.now), el("span", "", " (" + pct(c.confidence) + ")"));
      effectList.append(li);
      const row = byId(c.id);
      if (row) {
        row.classList.add("changed");
        row.dataset.label = c.now;
        row.querySelector(".answer .label").textContent = c.now;
        row.querySelector(".answer .conf").textContent = pct(c.confidence);
        row.querySelector(".answer .was").textContent = "was " + c.was;
      }
    });
    effect.hidden = false;
    if (label !== undefined && labels.indexOf(label) < 0) labels.push(label);
  }

  async function review(item, action, label) {
    if (!item) return;
    if (!canWrite) { status("This key is read-only: it cannot review.", "bad"); return; }
    const id = item.dataset.id;
    const text = item.querySelector(".text").textContent;
    closePicker();
    const next = nextAfter(item);
    item.classList.add("done");           // the next item comes up at once
    select(next);
    inFlight += 1;
    status("saving…");
    try {
      const answer = await call("POST", "/ns/" + ns + "/queue/" + id,
                                action === "accept" ? { action: "accept" } : { action: "correct", label: label });
      item.remove();
      setCount(answer.queued);
      status((answer.accepted ? "Accepted " : "Corrected to ") + "“" + answer.label + "”" +
             (answer.new_label ? " (a new class)" : "") + ": entry #" + answer.seq + " · “" + text + "”", "ok");
      showEffect(answer, answer.label);
      stale = stale || answer.changed.length > 0 || items().length < 10;
    } catch (err) {
      item.classList.remove("done");
      select(item);
      status("Not saved: " + err.message, "bad");
    } finally {
      inFlight -= 1;
    }
    if (stale && inFlight === 0) { stale = false; refresh(); }  // new neighbours, more items
  }

  async function refresh() {
    if (refreshing || pickerFor !== null || inFlight > 0) return;
    refreshing = true;
    try {
      const answer = await fetch("/ns/" + ns + "/queue/items", { credentials: "same-origin" });
      if (answer.status === 401) { window.location.assign("/login"); return; }
      if (!answer.ok || pickerFor !== null || inFlight > 0) return;
      const keep = selectedId;
      list.innerHTML = await answer.text();   // rendered (and escaped) by the server
      readMeta();
      select(byId(keep) || items()[0] || null);
    } catch (e) {
      /* offline for a moment: the next refresh tries again */
    } finally {
      refreshing = false;
    }
  }

  // -- the label picker ---------------------------------------------------------------------
  function openPicker(item) {
    if (!item) return;
    if (!canWrite) { status("This key is read-only: it cannot correct.", "bad"); return; }
    pickerFor = item.dataset.id;
    item.append(picker);
    picker.hidden = false;
    pickerInput.value = "";
    renderPicker();
    pickerInput.focus();
  }

  function closePicker() {
    if (pickerFor === null) return;
    pickerFor = null;
    picker.hidden = true;
    list.after(picker);
  }

  function renderPicker() {
    const typed = pickerInput.value.trim();
    const needle = typed.toLowerCase();
    pickerMatches = labels.filter(function (l) { return l.toLowerCase().indexOf(needle) >= 0; });
    pickerMatches.sort(function (a, b) {
      return (a.toLowerCase().indexOf(needle) === 0 ? 0 : 1) - (b.toLowerCase().indexOf(needle) === 0 ? 0 : 1);
    });
    pickerMatches = pickerMatches.slice(0, 12);
    const exact = pickerMatches.indexOf(typed);
    pickerActive = exact;
    pickerList.replaceChildren();
    pickerMatches.forEach(function (label, i) {
      const li = el("li", i === pickerActive ? "active" : "", label);
      li.setAttribute("role", "option");
      li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(label); });
      pickerList.append(li);
    });
    if (typed && exact < 0) {
      const li = el("li", "new", "new label “" + typed + "” (Enter)");
      li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(typed); });
      pickerList.append(li);
    }
  }

  function choose(label) {
    const item = byId(pickerFor);
    if (!label || !item) return;
    review(item, "correct", label);
  }

  pickerInput.addEventListener("input", renderPicker);
  pickerInput.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!pickerMatches.length) return;
      const step = e.key === "ArrowDown" ? 1 : -1;
      pickerActive = (pickerActive + step + pickerMatches.length) % pickerMatches.length;
      Array.from(pickerList.children).forEach(function (li, i) { li.classList.toggle("active", i === pickerActive); });
    } else if (e.key === "Enter") {
      e.preventDefault();
      choose(pickerActive >= 0 ? pickerMatches[pickerActive] : pickerInput.value.trim());
    } else if (e.key === "Escape") {
      e.preventDefault();
      closePicker();
    }
  });
  pickerInput.addEventListener("blur", function () { setTimeout(function () {
    if (document.activeElement !== pickerInput) closePicker();
  }, 150); });

  // -- keys and clicks ----------------------------------------------------------------------
  document.addEventListener("keydown", function (e) {
    const target = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (target instanceof HTMLElement && target.closest("input, textarea, select")) return;
    const item = selected();
    if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); move(1); }
    else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); move(-1); }
    else if (e.key === "a" || (e.key === "Enter" && !(target instanceof HTMLButtonElement) && !(target instanceof HTMLAnchorElement))) {
      e.preventDefault(); review(item, "accept");
    }
    else if (e.key === "c" || e.key === "l") { e.preventDefault(); openPicker(item); }
    else if (e.key === "r") { e.preventDefault(); refresh(); }
    else if (/^[1-9]$/.test(e.key) && item) {
      const buttons = item.querySelectorAll("button.suggest");
      const pick = buttons[Number(e.key) - 1];
      if (pick) { e.preventDefault(); review(item, "correct", pick.dataset.label); }
    }
  });

  list.addEventListener("click", function (e) {
    const item = e.target.closest("li.item");
    if (!item || e.target.closest("a, .picker")) return;
    select(item);
    const button = e.target.closest("button");
    if (!button) return;
    if (button.classList.contains("accept")) review(item, "accept");
    else if (button.classList.contains("correct")) openPicker(item);
    else if (button.classList.contains("suggest")) review(item, "correct", button.dataset.label);
  });

  // -- try a text ---------------------------------------------------------------------------
  const tryForm = document.getElementById("try-form");
  if (tryForm) {
    const tryText = document.getElementById("try-text");
    const tryResult = document.getElementById("try-result");
    tryForm.addEventListener("submit", async function (e) {
      e.preventDefault();
      tryResult.replaceChildren(el("p", "hint", "asking…"));
      try {
        const p = await call("POST", "/ns/" + ns + "/try", { text: tryText.value });
        const head = el("p");
        head.append(el("span", "label", p.label === null ? "(no entries yet)" : p.label),
                    el("span", "conf", " " + pct(p.confidence)));
        if (p.abstained) head.append(el("span", "tag", " abstained (best: " + p.best_label + ")"));
        const why = el("ol");
        p.neighbours.slice(0, 5).forEach(function (n) {
          why.append(el("li", n.voted ? "voted" : "", "#" + n.seq + " " + n.label + " · " + n.similarity.toFixed(3) + (n.voted ? " · voted" : "")));
        });
        tryResult.replaceChildren(head, why);
        tryResult.dataset.label = p.label === null ? "" : p.label;
      } catch (err) {
        tryResult.replaceChildren(el("p", "error", err.message));
      }
    });
  }

  readMeta();
  select(items()[0] || null);
  // the page showed the queue as it stood; the refresh asks the classifier again first
  setTimeout(refresh, 1000);
  setInterval(function () { if (!document.hidden) refresh(); }, 5000);
})();
