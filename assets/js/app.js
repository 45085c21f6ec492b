// GAN Studio's browser code: uploads with progress, live run updates over
// server-sent events, the grid timeline, and the gallery's keyboard and
// selection. Everything else is plain HTML and htmx.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ---- confirm before destructive plain forms ----
  document.addEventListener("submit", (e) => {
    const msg = e.target.dataset && e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) { e.preventDefault(); return; }
    // A double click must not start two runs: forms marked data-once
    // disable their buttons once sent (after this event, so they still send).
    if ("once" in e.target.dataset) {
      setTimeout(() => $$("button[type=submit]", e.target).forEach((b) => { b.disabled = true; }), 0);
    }
  });
  // ---- filters submit on change ----
  $$("[data-autosubmit]").forEach((el) => el.addEventListener("change", () => el.form.submit()));

  // ---- new run: sides, goal and estimate follow the choices ----
  // The server renders a complete form (it works without this); here the
  // sides follow the chosen dataset and device, the goal refills steps and
  // snapshots, and the estimate follows all of them.
  const newRun = $("#new-run");
  if (newRun && newRun.dataset.plan && window.fetch) {
    let asked = 0;
    newRun.addEventListener("change", async (e) => {
      const changed = e.target.id;
      if (!["dataset_id", "device", "res", "goal", "steps", "batch", "width"].includes(changed)) return;
      const q = new URLSearchParams(new FormData(newRun));
      q.delete("_csrf");
      q.set("changed", changed);
      const mine = ++asked;
      let p;
      try {
        const resp = await fetch(`${newRun.dataset.plan}?${q}`, { headers: { Accept: "application/json" } });
        if (!resp.ok) return;
        p = await resp.json();
      } catch (_) { return; } // the page's own figures stay
      if (mine !== asked) return; // a later change has asked again
      const res = $("#res", newRun);
      res.replaceChildren(...p.resolutions.map((r) => new Option(r.label, r.res, false, String(r.res) === p.res)));
      const goal = $("#goal", newRun);
      for (const g of p.goals) {
        const o = Array.from(goal.options).find((o) => o.value === g.value);
        if (o) o.textContent = g.label;
      }
      for (const k of ["steps", "snapshot_every", "goal_steps", "goal_every"]) {
        const el = newRun.elements[k];
        if (el && el !== e.target) el.value = p[k];
      }
      $("#estimate-text").textContent = p.estimate;
      $("#estimate-basis").textContent = p.basis;
    });
  }

  // ---- upload: files, folders, drag and drop, progress ----
  const form = $("#upload");
  if (form) {
    let picked = [];
    const show = () => {
      const size = picked.reduce((n, f) => n + f.file.size, 0);
      $("#picked").textContent = picked.length
        ? `${picked.length} file${picked.length > 1 ? "s" : ""}, ${(size / 1048576).toFixed(1)} MB`
        : "";
    };
    const add = (files) => {
      for (const f of files) picked.push({ file: f, path: f.webkitRelativePath || f.name });
      show();
    };
    $("#file-input").addEventListener("change", (e) => add(e.target.files));
    $("#folder-input").addEventListener("change", (e) => add(e.target.files));
    const zone = $("#dropzone");
    ["dragenter", "dragover"].forEach((t) =>
      zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    // Folders dropped from the desktop arrive as directory entries to walk.
    const walk = (entry, prefix) => new Promise((resolve) => {
      if (entry.isFile) {
        entry.file((f) => { picked.push({ file: f, path: prefix + f.name }); resolve(); }, () => { unread.push(prefix + entry.name); resolve(); });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const all = [];
        const more = () => reader.readEntries((batch) => {
          if (!batch.length) {
            Promise.all(all.map((en) => walk(en, prefix + entry.name + "/"))).then(resolve);
          } else { all.push(...batch); more(); }
        }, () => { unread.push(prefix + entry.name + "/"); resolve(); });
        more();
      } else resolve();
    });
    let unread = [];
    zone.addEventListener("drop", async (e) => {
      e.preventDefault();
      unread = [];
      const items = Array.from(e.dataTransfer.items || []);
      const entries = items.map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter(Boolean);
      if (entries.length) await Promise.all(entries.map((en) => walk(en, "")));
      else add(e.dataTransfer.files);
      show();
      if (unread.length) $("#picked").textContent += ` — the browser could not read ${unread.join(", ")}`;
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const status = $("#upload-status"), bar = $("#upload-progress"), report = $("#upload-report");
      report.textContent = "";
      if (!picked.length) { status.textContent = "Choose or drop some images or a zip first."; status.className = "error"; return; }
      const total = picked.reduce((n, f) => n + f.file.size, 0);
      if (total > Number(form.dataset.max)) {
        status.textContent = `That is ${(total / 1048576).toFixed(0)} MB; one upload can hold ${(form.dataset.max / 1048576).toFixed(0)} MB.`;
        status.className = "error";
        return;
      }
      const data = new FormData();
      data.append("name", form.elements.name.value);
      for (const p of picked) data.append("files", p.file, p.path);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/datasets");
      xhr.setRequestHeader("Accept", "application/json");
      bar.hidden = false; bar.value = 0;
      $("#upload-button").disabled = true;
      status.className = "";
      xhr.upload.onprogress = (ev) => {
        if (ev.lengthComputable) {
          bar.value = (100 * ev.loaded) / ev.total;
          status.textContent = `Uploading… ${Math.round(bar.value)}%`;
          if (ev.loaded === ev.total) status.textContent = "Preparing images (decoding, cropping, resizing)…";
        }
      };
      const reset = () => { picked = []; show(); form.elements.files.value = ""; $("#folder-input").value = ""; };
      xhr.onload = () => {
        $("#upload-button").disabled = false;
        // Nothing was saved: start the choice again rather than sending
        // the same files twice next time.
        // (A 503 is "busy, send it again": keep the choice for that.)
        if (xhr.status !== 201 && xhr.status !== 503) reset();
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status === 201) { window.location = "/datasets/" + body.id; return; }
        status.textContent = body.error || `Upload failed (${xhr.status}).`;
        status.className = "error";
        const skipped = (body.report && body.report.skipped) || [];
        if (skipped.length) {
          const t = document.createElement("table");
          t.className = "table skipped";
          t.innerHTML = "<thead><tr><th>File</th><th>Why it was skipped</th></tr></thead>";
          const tb = document.createElement("tbody");
          for (const s of skipped) {
            const tr = document.createElement("tr");
            for (const v of [s.name, s.reason]) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
            tb.append(tr);
          }
          t.append(tb);
          report.append(t);
        }
      };
      xhr.onerror = () => { reset(); $("#upload-button").disabled = false; status.textContent = "The connection broke during the upload; nothing was saved. Try again."; status.className = "error"; };
      xhr.send(data);
    });
  }

  // ---- run page: live progress over SSE ----
  const run = $("#run");
  if (run && run.dataset.terminal !== "true" && window.EventSource) {
    let es = null;
    // Browsers allow six connections per host: a hidden tab gives its
    // stream up and opens it again when shown.
    const connect = () => {
      if (es || run.dataset.terminal === "true") return;
      es = new EventSource(run.dataset.live);
      es.addEventListener("progress", onProgress);
      es.addEventListener("snapshot", () => htmx.trigger(document.body, "snapshot"));
    };
    const disconnect = () => { if (es) { es.close(); es = null; } };
    document.addEventListener("visibilitychange", () => (document.hidden ? disconnect() : connect()));
    let ticks = 0;
    const onProgress = (e) => {
      const p = JSON.parse(e.data);
      // The charts follow the losses between snapshots too, every ~10 s.
      if (++ticks % 10 === 0) htmx.trigger(document.body, "tick");
      $("#run-step").textContent = p.step;
      $("#run-progress").value = p.steps ? (100 * p.step) / p.steps : 0;
      const badge = $("#run-state .state");
      // Compared with what the page shows, not with the last event: after
      // a reconnect (hidden tab, dropped connection) a change is still seen.
      const changed = badge.dataset.state !== p.state;
      badge.textContent = p.state; badge.className = "state state-" + p.state; badge.dataset.state = p.state;
      $("#run-eta").textContent = p.state === "running" ? (p.eta ? "about " + p.eta + " left" : "estimating…") : p.state;
      if (changed) {
        htmx.ajax("GET", `/runs/${run.dataset.run}/panel/controls`, { target: "#controls", swap: "outerHTML" });
        htmx.trigger(document.body, "runstate");
      }
      if (["done", "failed", "cancelled", "paused"].includes(p.state)) {
        // The server ends the stream here too; without this the browser
        // would reconnect every few seconds.
        disconnect();
        run.dataset.terminal = "true";
        htmx.trigger(document.body, "snapshot");
      }
    };
    connect();
  }

  // ---- grid timeline slider (re-bound after htmx swaps the panel) ----
  const bindSlider = () => {
    const s = $("#grid-slider");
    if (!s || s.dataset.bound) return;
    s.dataset.bound = "1";
    const steps = JSON.parse(s.dataset.steps);
    // The best step's link moves the slider there rather than leaving the page.
    const best = $("#grid-best");
    if (best) best.addEventListener("click", (e) => {
      e.preventDefault();
      s.value = best.dataset.index;
      s.dispatchEvent(new Event("input"));
    });
    s.addEventListener("input", () => {
      const step = steps[Number(s.value)];
      $("#grid-img").src = `/runs/${s.dataset.run}/grids/${step}.png`;
      $("#grid-step").textContent = step;
      $("#grid-download").href = `/runs/${s.dataset.run}/grids/${step}.png?download=1`;
      // Only snapshots that kept a checkpoint can be rolled back to, and
      // only while the run is not training.
      const rb = $("#rollback");
      if (rb) {
        rb.setAttribute("hx-vals", JSON.stringify({ step }));
        const ok = JSON.parse(rb.dataset.ckpts).includes(step);
        rb.disabled = !(ok && rb.dataset.idle === "true");
        rb.title = rb.dataset.idle !== "true" ? "Pause the run to roll back"
          : ok ? "Go back to the checkpoint of this step" : "No checkpoint was kept at this step";
      }
    });
  };
  bindSlider();
  document.body.addEventListener("htmx:afterSwap", bindSlider);

  // ---- errors of htmx requests (htmx swaps nothing on a 4xx/5xx) ----
  document.body.addEventListener("htmx:responseError", (e) => {
    const xhr = e.detail.xhr;
    let msg = `The studio answered ${xhr.status}.`;
    try {
      msg = JSON.parse(xhr.responseText).error || msg;
    } catch {
      const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      const p = doc.querySelector(".error");
      if (p) msg = p.textContent.trim();
    }
    let bar = $("#request-error");
    if (!bar) {
      bar = document.createElement("p");
      bar.id = "request-error";
      bar.className = "error toast";
      bar.setAttribute("role", "alert");
      bar.title = "click to close";
      bar.addEventListener("click", () => bar.remove());
      document.body.appendChild(bar);
    }
    bar.textContent = msg;
  });

  // ---- gallery: selection, keyboard, interpolation ----
  const gallery = $("#gallery");
  if (gallery) {
    const count = () => {
      const n = $$("input[name=ids]:checked", gallery).length;
      const out = $("#selected-count");
      if (out) out.textContent = `${n} selected`;
    };
    // A rating session (data-advance) moves the focus on to the next
    // sample not rated yet after each rating, and says when all are.
    const advance = gallery.hasAttribute("data-advance");
    const unrated = (c) => !c.classList.contains("liked") && !c.classList.contains("disliked");
    const next = (from) => {
      const list = cards();
      const i = list.indexOf(from);
      return list.slice(i + 1).concat(list.slice(0, i + 1)).find(unrated);
    };
    // All rated: show "Rate more" (focused when the keyboard got there).
    const showDone = (focus) => {
      const done = $("#rate-done");
      if (!done || cards().some(unrated)) return;
      done.hidden = false;
      if (focus) $("button", done).focus();
    };
    gallery.addEventListener("change", count);
    if (advance) {
      document.body.addEventListener("htmx:afterSwap", () => showDone(false));
    }
    document.body.addEventListener("htmx:afterSwap", count);
    const cards = () => $$(".sample", gallery);
    if (advance && cards().length) cards()[0].focus(); // ready for the first key
    document.addEventListener("keydown", (e) => {
      if (e.target.matches("input, select, textarea") && e.target.type !== "checkbox") return;
      // Ctrl+D bookmarks, Ctrl+L goes to the address bar; a held key
      // would flip the rating on and off.
      if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      let card = document.activeElement && document.activeElement.closest(".sample");
      const list = cards();
      if (!list.length) return;
      const key = e.key.toLowerCase();
      if (!card && (key === "l" || key === "d" || key === "x")) {
        // Nothing focused yet: the first card takes the key, as the
        // arrows would have started there.
        card = list[0];
        card.focus();
      }
      const i = card ? list.indexOf(card) : -1;
      if (key === "arrowright" || key === "arrowleft") {
        const j = Math.max(0, Math.min(list.length - 1, i + (key === "arrowright" ? 1 : -1)));
        list[i < 0 ? 0 : j].focus();
        e.preventDefault();
      } else if (card && (key === "l" || key === "d")) {
        const id = card.id;
        // Keep the focus on the card htmx puts in its place.
        const refocus = (ev) => {
          if (ev.detail.target && ev.detail.target.id !== id) return;
          document.body.removeEventListener("htmx:afterRequest", refocus);
          const n = document.getElementById(id);
          if (!n) return;
          if (!advance) { n.focus(); return; }
          const to = next(n);
          if (to) to.focus();
          else showDone(true);
        };
        document.body.addEventListener("htmx:afterRequest", refocus);
        $(key === "l" ? ".like" : ".dislike", card).click();
      } else if (card && key === "x") {
        const box = $("input[name=ids]", card);
        box.checked = !box.checked;
        count();
      }
    });
    const interp = $("#interpolate");
    if (interp) interp.addEventListener("click", () => {
      const ids = $$("input[name=ids]:checked", gallery).map((b) => b.value);
      const out = $("#interpolation");
      if (ids.length !== 2) { out.innerHTML = ""; out.textContent = "Select exactly two samples to interpolate between."; return; }
      out.textContent = "";
      const img = document.createElement("img");
      img.className = "pixel";
      img.alt = "interpolation strip";
      img.src = `/runs/${$("#interpolate").dataset.run}/interpolate.png?a=${ids[0]}&b=${ids[1]}&frames=10`;
      out.append(img);
    });
  }
})();
