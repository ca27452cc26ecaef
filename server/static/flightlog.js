/* flightlog's one renderer: the server's pages, the offline report and the notebook view.
 *
 * Plain JS, no build step. Data comes from a "source": the server's HTTP API
 * (httpSource) or a JSON document inlined in the page (inlineSource, window.FLIGHTLOG_DATA
 * or <script id="flightlog-data" type="application/json">). Charts are drawn by Vega-Lite
 * through vega-embed (window.vegaEmbed, served by the server or inlined).
 *
 * Test and benchmark hooks: every metric chart's container gets data-drawn="N" (rows
 * drawn) and data-detail="full|downsampled" once Vega has rendered; window.flightlog.charts
 * maps "key" to its MetricChart (with .view), window.flightlog.views maps a logged chart's
 * name to its Vega view; performance mark "flightlog:first-chart" marks the first drawing.
 * The runs table counts its loads in data-loaded and stamps data-loaded-at (performance.now()
 * once the rows of a load are in the DOM).
 */
(function () {
  "use strict";

  const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
  const POINTS = 2000; // points asked per series (the server keeps every extreme)
  const PAGE = 50; // runs per page of the runs table
  const TABLE_ROWS = 500; // rows shown of a logged table (TABLE_ROWS in report.py)

  const fl = (window.flightlog = window.flightlog || {});
  fl.charts = {};
  fl.views = {};

  // ------------------------------------------------------------------ small helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  // An image element; images smaller than a thumbnail (an 8x8 digit, a 28x28 sample) are
  // drawn larger with their pixels kept sharp, instead of as a dot.
  function picture(url, alt, cls) {
    return h("img", { src: url, alt, class: cls, onload: (e) => {
      if (e.target.naturalWidth < 48 && e.target.naturalHeight < 48) e.target.classList.add("tiny");
    } });
  }

  const enc = encodeURIComponent;
  const encPath = (name) => name.split("/").map(enc).join("/");
  const refKey = (ref) => `${ref.project}/${ref.id}`;

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : String(+v.toPrecision(6));
    }
    if (typeof v === "object" && v._type === "histogram" && Array.isArray(v.bins)) {
      const b = v.bins;
      return `histogram, ${b.length - 1} bins [${fmt(b[0])}, ${fmt(b[b.length - 1])}]`;
    }
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  /** Nested config maps as dotted keys, as W&B shows them ({arch: {layers: 3}} ->
   * {"arch.layers": 3}); the server filters and orders by the same names. */
  function flatKeys(obj, prefix, out) {
    out = out || {};
    for (const [k, v] of Object.entries(obj || {})) {
      if (v !== null && typeof v === "object" && !Array.isArray(v) && v._type === undefined &&
          Object.keys(v).length) flatKeys(v, (prefix || "") + k + ".", out);
      else out[(prefix || "") + k] = v;
    }
    return out;
  }

  /** A key as a column label: keys are untrusted, so control characters are shown
   * escaped and long keys cut (the full key stays in the title). */
  function keyLabel(k) {
    const shown = String(k).replace(/[\u0000-\u001f\u007f-\u009f]/g,
      (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
    return shown.length > 48 ? shown.slice(0, 47) + "…" : shown;
  }
  /** Keys offered as columns by default: printable names, not path-like ones. */
  const plainKey = (k) => /^[\w][\w.\-/:@ ]{0,63}$/.test(k) && !k.split("/").includes("..");

  /** A duration in seconds as "1h 02m", "3m 05s" or "12s". */
  function duration(seconds) {
    if (seconds === null || seconds === undefined || !(seconds >= 0)) return "";
    const s = Math.round(seconds);
    if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}m`;
    if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
    return `${s}s`;
  }

  /** Tags as W&B lists them: name, or name=value. */
  function tagLabels(tags) {
    return Object.entries(tags || {}).map(([k, v]) => (v === null ? k : `${k}=${v}`));
  }

  function when(ts) {
    if (ts === null || ts === undefined) return "";
    const d = new Date(ts * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
      `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function humanSize(n) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  }

  const statusBadge = (status) => h("span", { class: `status status-${status}` }, status);

  function kvTable(obj, cls) {
    const keys = Object.keys(obj || {}).sort();
    if (!keys.length) return h("p", { class: "empty" }, "(none)");
    return h("table", { class: `kv ${cls || ""}` },
      h("tbody", null, keys.map((k) =>
        h("tr", null, h("th", null, k), h("td", null, fmt(obj[k]))))));
  }

  function section(title, ...body) {
    return h("section", { class: "card", dataset: { section: title.toLowerCase() } },
      h("h2", null, title), ...body);
  }

  // ------------------------------------------------------------------ chart safety

  /* A logged chart's spec is untrusted data (whoever logged the run wrote it). Every chart
   * is drawn through embed(): the spec without usermeta (vega-embed would take embed
   * options from it: the actions menu, its sourceHeader HTML, a loader), without constant
   * non-data: URLs, hrefs or config.events (the rules of format/chart_safety.py, which the
   * server and the report apply too), with the actions menu off, vega's CSP-safe
   * expression interpreter (ast: true: no eval, which the pages' CSP forbids anyway) and a
   * loader that refuses every load but an inline data: image, so that URLs computed by
   * expressions or read from data cannot fetch, link or send anything either. */

  const dataUri = (v) => typeof v === "string" && v.slice(0, 5).toLowerCase() === "data:";
  const constantUrl = (v) => (typeof v === "string" ? !dataUri(v)
    : v !== null && typeof v === "object" && !Array.isArray(v) && "value" in v && !dataUri(v.value));

  /** [spec without the parts that could reach outside the page, JSON pointers removed]. */
  function safeSpec(spec) {
    const removed = [];
    if (spec === null || typeof spec !== "object" || Array.isArray(spec)) return [{}, ["/"]];
    const clean = (node, path, parentKey, depth) => {
      if (depth > 256) { removed.push(path || "/"); return null; }
      if (Array.isArray(node)) return node.map((c, i) => clean(c, `${path}/${i}`, parentKey, depth + 1));
      if (node === null || typeof node !== "object") return node;
      const out = {};
      for (const [key, child] of Object.entries(node)) {
        const where = `${path}/${key}`;
        if (key === "usermeta" || key === "href" || (key === "events" && parentKey === "config") ||
            (key === "url" && constantUrl(child))) {
          removed.push(where);
          continue;
        }
        out[key] = clean(child, where, key, depth + 1);
      }
      if (parentKey === "data" && "url" in node && !("url" in out) && !("values" in out)) out.values = [];
      return out;
    };
    return [clean(spec, "", "", 0), removed];
  }

  function refused(what) {
    return async (uri) => {
      const err = new Error(`flightlog: a chart may not load ${String(uri).slice(0, 120)} (${what})`);
      if (fl.refusedLoads.length < 100) fl.refusedLoads.push(String(uri)); // test hook
      throw err;
    };
  }

  fl.refusedLoads = [];
  /** vega's loader interface, refusing all but inline images (context "image", data:). */
  const SAFE_LOADER = {
    options: {},
    fileAccess: false,
    load: refused("data"),
    file: refused("file"),
    http: refused("http"),
    async sanitize(uri, options) {
      if (options && options.context === "image" && /^data:image\//i.test(String(uri))) {
        return { href: String(uri) };
      }
      return refused((options && options.context) || "url")(uri);
    },
  };

  /** vegaEmbed with the options no spec can change. Returns vega-embed's result.
   * ``rows``: {name: rows} of data this renderer made itself (the metric charts' points,
   * never a logged spec's): set on the cleaned spec's data of that name, not walked by
   * safeSpec (a copy of every row, ~30 ms at a thousand runs). */
  function embed(el, spec, opts, rows) {
    const [clean] = safeSpec(spec);
    for (const [name, values] of Object.entries(rows || {})) {
      const sets = Array.isArray(clean.data) ? clean.data : [clean.data];
      const found = sets.find((d) => d && d.name === name);
      if (found) found.values = values;
      else if (Array.isArray(clean.data)) clean.data.push({ name, values });
      else clean.data = { name, values };
    }
    return window.vegaEmbed(el, clean, {
      ...opts,
      actions: false,
      ast: true,
      loader: SAFE_LOADER,
      // No listening to DOM elements outside the chart, no bound inputs outside it.
      config: { events: { selector: false, bind: "container" } },
    });
  }
  fl.safeSpec = safeSpec;

  // ------------------------------------------------------------------ data sources

  function httpSource() {
    async function get(path) {
      const r = await fetch(path, { credentials: "same-origin" });
      if (r.status === 401) {
        location.href = "/login?next=" + enc(location.pathname + location.search);
        throw new Error("not logged in");
      }
      if (!r.ok) {
        // The server's own words when it gives them (a refused filter names the field).
        const said = await r.json().then((b) => b && b.message, () => null);
        throw new Error(said ? `HTTP ${r.status}: ${said}` : `${path}: HTTP ${r.status}`);
      }
      return r.json();
    }
    const runPath = (ref) => `/api/v1/runs/${enc(ref.project)}/${enc(ref.id)}`;
    const optional = (p) => p.catch(() => ({}));
    return {
      live: true,
      projects: () => get("/api/v1/projects"),
      runs(project, q) {
        const params = new URLSearchParams({ project, limit: q.limit, offset: q.offset });
        if (q.order) params.set("order", q.order);
        for (const f of q.filters) params.append("filter", f);
        return get("/api/v1/runs?" + params);
      },
      detail: (ref) => get(runPath(ref)),
      keys: (ref) => get(runPath(ref) + "/keys"),
      series(ref, key, x, range) {
        const params = new URLSearchParams({ key, x, points: POINTS });
        if (range) { params.set("start", range[0]); params.set("end", range[1]); }
        return get(runPath(ref) + "/series?" + params);
      },
      charts: (ref) => optional(get(runPath(ref) + "/charts")),
      vectors: (ref) => optional(get(runPath(ref) + "/vectors")),
      execution: (ref) => optional(get(runPath(ref) + "/execution")),
      media: (ref) => optional(get(runPath(ref) + "/media")),
      // A page of the table (a logged table may have millions of rows) and its size.
      async table(ref, name) {
        const path = `${runPath(ref)}/tables/${encPath(name)}?format=json&limit=${TABLE_ROWS}`;
        const r = await fetch(path, { credentials: "same-origin" });
        if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
        const rows = await r.json();
        rows.total = Number(r.headers.get("X-Total-Rows") || rows.length);
        return rows;
      },
      blobUrl: (ref, sha) => runPath(ref) + "/blobs/" + sha,
      async blobText(ref, sha) {
        const r = await fetch(runPath(ref) + "/blobs/" + sha, { credentials: "same-origin" });
        if (!r.ok) throw new Error(`blob ${sha}: HTTP ${r.status}`);
        return r.text();
      },
      fileUrl: (ref, name) => runPath(ref) + "/files/" + encPath(name),
      runUrl: (ref) => `/runs/${enc(ref.project)}/${enc(ref.id)}`,
      projectUrl: (project) => `/projects/${enc(project)}`,
      compareUrl: (refs) => "/compare?runs=" + refs.map((r) => enc(refKey(r))).join(","),
      async plotly() {
        if (window.Plotly) return window.Plotly;
        await new Promise((resolve, reject) => {
          const s = h("script", { src: "/static/plotly.min.js" });
          s.onload = resolve;
          s.onerror = reject;
          document.head.append(s);
        }).catch(() => null);
        return window.Plotly || null;
      },
    };
  }

  function inlineSource(data) {
    const run = (ref) => {
      const found = data.runs[refKey(ref)];
      if (!found) throw new Error(`run ${refKey(ref)} is not in this report`);
      return found;
    };
    const dataUri = (ref, sha) => (run(ref).blobs || {})[sha] || null;
    return {
      live: false,
      detail: async (ref) => run(ref).detail,
      keys: async (ref) => ({ keys: Object.keys(run(ref).series._step || {}) }),
      async series(ref, key, x, range) {
        const s = (run(ref).series[x] || {})[key];
        if (!s) return { x: [], y: [], total: 0, downsampled: false };
        if (!range) return s;
        // Zoomed: the inlined points in range (plus one either side), nothing to fetch.
        let lo = 0;
        let hi = s.x.length;
        while (lo < hi && s.x[lo] < range[0]) lo++;
        while (hi > lo && s.x[hi - 1] > range[1]) hi--;
        lo = Math.max(lo - 1, 0);
        hi = Math.min(hi + 1, s.x.length);
        return { x: s.x.slice(lo, hi), y: s.y.slice(lo, hi), total: hi - lo,
          downsampled: s.downsampled };
      },
      charts: async (ref) => run(ref).charts || {},
      vectors: async (ref) => run(ref).vectors || {},
      execution: async (ref) => run(ref).execution || {},
      media: async (ref) => run(ref).media || {},
      table: async (ref, name) => {
        const rows = (run(ref).tables || {})[name] || [];
        rows.total = (run(ref).table_rows || {})[name] ?? rows.length;
        return rows;
      },
      blobUrl: dataUri,
      async blobText(ref, sha) {
        const uri = dataUri(ref, sha);
        if (!uri) throw new Error(`blob ${sha} is not in this report`);
        const b64 = uri.slice(uri.indexOf(",") + 1);
        return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      },
      fileUrl: (ref, name) => (run(ref).files || {})[name] || null,
      runUrl: (ref) => "#run-" + refKey(ref),
      projectUrl: () => null,
      compareUrl: () => null,
      plotly: async () => window.Plotly || null,
    };
  }

  // ------------------------------------------------------------------ metric charts

  /** TensorBoard's debiased exponential moving average (weight in [0, 1)). */
  function smooth(ys, weight) {
    const out = new Array(ys.length);
    let last = 0;
    let n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (!Number.isFinite(y)) { out[i] = y; continue; }
      last = last * weight + (1 - weight) * y;
      n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  /** The chart settings every metric chart of a page shares (x axis, smoothing). */
  class Settings {
    constructor() {
      this.x = "_step";
      this.smoothing = 0;
      this.charts = [];
    }
    controls() {
      const xSel = h("select", { class: "x-axis", onchange: (e) => this.set({ x: e.target.value }) },
        h("option", { value: "_step" }, "step"), h("option", { value: "_timestamp" }, "time"));
      const val = h("span", { class: "smoothing-value" }, "0");
      const slider = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0,
        class: "smoothing", oninput: (e) => {
          val.textContent = e.target.value;
          this.set({ smoothing: +e.target.value });
        } });
      return h("div", { class: "controls" }, h("label", null, "x axis ", xSel),
        h("label", null, "smoothing ", slider, val),
        h("span", { class: "hint" }, "scroll to zoom, drag to pan, double-click to reset"));
    }
    set(change) {
      const reload = change.x !== undefined && change.x !== this.x;
      Object.assign(this, change);
      for (const c of this.charts) (reload ? c.reload() : c.draw());
    }
  }

  let firstChartMarked = false;

  class MetricChart {
    /** runs: [{ref, label}] drawn overlaid; key: the history column. */
    constructor(src, runs, key, settings) {
      this.src = src;
      this.runs = runs;
      this.key = key;
      this.settings = settings;
      this.el = h("div", { class: "vega metric", dataset: { key } });
      this.box = h("div", { class: "chart" }, h("h3", null, key), this.el);
      this.overview = new Map(); // refKey -> series (whole range, downsampled)
      this.detail = new Map(); // refKey -> series (the zoomed range)
      this.range = null;
      this.view = null;
      this.pending = null;
      settings.charts.push(this);
      fl.charts[key] = this;
    }

    async reload() {
      this.range = null;
      this.detail.clear();
      if (this.view) { this.view.finalize(); this.view = null; }
      await this.refresh();
    }

    /** Fetch the overview again (a live run grew) and redraw. */
    async refresh() {
      const x = this.settings.x;
      const all = await Promise.all(this.runs.map((r) => this.src.series(r.ref, this.key, x, null)));
      this.runs.forEach((r, i) => this.overview.set(refKey(r.ref), all[i]));
      if (this.range) await this.fetchDetail(this.range);
      await this.draw();
    }

    async fetchDetail(range) {
      const x = this.settings.x;
      const all = await Promise.all(this.runs.map((r) => {
        const whole = this.overview.get(refKey(r.ref));
        if (whole && !whole.downsampled) return null; // already every point
        return this.src.series(r.ref, this.key, x, range);
      }));
      this.runs.forEach((r, i) => {
        if (all[i]) this.detail.set(refKey(r.ref), all[i]);
        else this.detail.delete(refKey(r.ref));
      });
    }

    rows() {
      const time = this.settings.x === "_timestamp";
      const w = this.settings.smoothing;
      const out = [];
      let full = true;
      for (const r of this.runs) {
        const whole = this.overview.get(refKey(r.ref));
        if (!whole) continue;
        let xs = whole.x;
        let ys = whole.y;
        const zoomed = this.range && this.detail.get(refKey(r.ref));
        if (zoomed) {
          // Overview outside the zoomed range, every point inside it.
          const [lo, hi] = [zoomed.x[0], zoomed.x[zoomed.x.length - 1]];
          const xs2 = [];
          const ys2 = [];
          for (let i = 0; i < xs.length && xs[i] < lo; i++) { xs2.push(xs[i]); ys2.push(ys[i]); }
          for (let i = 0; i < zoomed.x.length; i++) { xs2.push(zoomed.x[i]); ys2.push(zoomed.y[i]); }
          for (let i = 0; i < xs.length; i++) if (xs[i] > hi) { xs2.push(xs[i]); ys2.push(ys[i]); }
          xs = xs2;
          ys = ys2;
          full = full && !zoomed.downsampled;
        } else {
          full = full && !whole.downsampled;
        }
        const sm = w > 0 ? smooth(ys, w) : null;
        const opacity = w > 0 ? 0.25 : 1;
        for (let i = 0; i < xs.length; i++) {
          out.push({ run: r.label, x: time ? xs[i] * 1000 : xs[i], y: ys[i],
            ys: sm ? sm[i] : ys[i], o: opacity });
        }
      }
      return { rows: out, full };
    }

    mode() {
      return "vega-lite";
    }

    embedOptions() {
      return { renderer: "canvas", mode: this.mode() };
    }

    spec() {
      const time = this.settings.x === "_timestamp";
      const many = this.runs.length > 1;
      const zoom = { name: "zoom", select: { type: "interval", encodings: ["x"] }, bind: "scales" };
      if (this.range) {
        zoom.value = { x: time ? this.range.map((v) => v * 1000) : this.range };
      }
      return {
        $schema: SCHEMA, width: "container", height: 220,
        autosize: { type: "fit-x", contains: "padding" },
        data: { name: "series" },
        encoding: {
          x: { field: "x", type: time ? "temporal" : "quantitative",
            title: time ? "time" : "step", scale: time ? {} : { zero: false },
            // Steps are whole numbers: no 0.5 ticks on a short run.
            axis: time ? {} : { format: "d", tickMinStep: 1 } },
          color: { field: "run", type: "nominal",
            legend: many ? { orient: "bottom", title: null } : null },
        },
        layer: [
          { params: [zoom], mark: { type: "line", clip: true, strokeWidth: 1.5 },
            encoding: { y: { field: "y", type: "quantitative", title: null, scale: { zero: false } },
              opacity: { field: "o", type: "quantitative", scale: null, legend: null } } },
          { mark: { type: "line", clip: true, strokeWidth: 1.5 },
            encoding: { y: { field: "ys", type: "quantitative" } } },
        ],
        config: { view: { stroke: null }, axis: { grid: true, gridOpacity: 0.4 } },
      };
    }

    async draw() {
      const { rows, full } = this.rows();
      if (!this.view) {
        // A Vega-Lite spec here; a subclass may answer a Vega one (mode()).
        const result = await embed(this.el, this.spec(), this.embedOptions(), { series: rows });
        this.view = result.view;
        this.view.addSignalListener("zoom", (_, value) => this.onZoom(value));
      } else {
        await this.view.data("series", rows).runAsync();
      }
      if (!this.el.dataset.drawnAt) this.el.dataset.drawnAt = String(performance.now());
      this.el.dataset.drawn = String(rows.length);
      this.el.dataset.detail = full ? "full" : "downsampled";
      if (!firstChartMarked) {
        firstChartMarked = true;
        performance.mark("flightlog:first-chart");
        document.body.dataset.firstChart = String(performance.now());
      }
    }

    onZoom(value) {
      const time = this.settings.x === "_timestamp";
      let range = value && value.x ? value.x.map((v) => +v) : null;
      if (range && time) range = range.map((v) => v / 1000);
      clearTimeout(this.pending);
      // Debounced: a wheel gesture fires dozens of signal updates. A zoom whose detail
      // arrives after a later zoom started is dropped (it would draw the wrong range).
      this.pending = setTimeout(async () => {
        const mine = (this.zooms = (this.zooms || 0) + 1);
        this.range = range;
        if (range) await this.fetchDetail(range);
        else this.detail.clear();
        if (mine !== this.zooms) return;
        await this.draw();
        if (mine === this.zooms) this.el.dataset.zoomed = JSON.stringify(range); // test hook
      }, 150);
    }
  }

  // ------------------------------------------------------------------ logged content

  async function drawSpec(el, spec, name) {
    try {
      const result = await embed(el, spec, { renderer: "svg" });
      fl.views[name] = result.view;
      el.dataset.drawn = "1";
    } catch (err) {
      el.append(h("pre", { class: "error" }, `could not draw ${name}: ${err}`));
    }
  }

  async function chartsSection(src, ref) {
    const charts = await src.charts(ref);
    const names = Object.keys(charts).sort();
    if (!names.length) return null;
    const box = h("div", { class: "grid" });
    for (const name of names) {
      const c = charts[name];
      const el = h("div", { class: "vega logged", dataset: { chart: name } });
      // What the server (or report) removed, and what is left to remove here.
      const removed = [...new Set([...(c.removed || []), ...safeSpec(c.spec)[1]])];
      box.append(h("div", { class: "chart" },
        h("h3", null, name, h("span", { class: "kind" }, c.kind || "")), el,
        removed.length ? h("p", { class: "hint removed" }, "left out, as it would load or " +
          "link outside this page: " + removed.join(", ")) : null));
      if (c.error) el.append(h("pre", { class: "error" }, `could not read ${name}: ${c.error}`));
      else drawSpec(el, c.spec, name);
    }
    return section("Charts", box);
  }

  function htmlFrame(src, ref, sha) {
    // Sandboxed without allow-same-origin: the HTML cannot reach the page or the API.
    const frame = h("iframe", { sandbox: "allow-scripts", class: "html-media" });
    if (src.live) {
      // From the server, under the blob's own sandbox policy (a srcdoc frame would
      // inherit the page's CSP, which runs no inline script).
      frame.src = src.blobUrl(ref, sha);
      return frame;
    }
    src.blobText(ref, sha).then((text) => { frame.srcdoc = text; },
      (err) => { frame.srcdoc = `<pre>${String(err)}</pre>`; });
    return frame;
  }

  function cell(src, ref, value) {
    if (value && typeof value === "object" && value.sha256 && value.kind) {
      if (value.kind === "image") {
        const url = src.blobUrl(ref, value.sha256);
        return url ? picture(url, value.caption || "", "cell-image")
          : "(image not included)";
      }
      if (value.kind === "html") return htmlFrame(src, ref, value.sha256);
    }
    return fmt(value);
  }

  // ------------------------------------------------------------------ Azure forms

  /* Seed 003's "viewing charts" table (format/azure_forms.py is the Python side):
   * log_list and run.log(name, v) repeated are vectors, drawn as one-variable line
   * charts (x = index); a log_row / log_table table whose first column is numeric and
   * which has another numeric column is drawn as a two-variable line chart (the first
   * column as x, each other numeric column a line), its table a click away. Test hook:
   * fl.views["vector:NAME"] and fl.views["table:NAME"], data "values" ({x, y, series}). */

  const NON_FINITE = new Set(["NaN", "Infinity", "-Infinity"]);
  const isNum = (v) => typeof v === "number" || NON_FINITE.has(v);

  /** {x, ys} when the rows are drawn as a line chart, else null. */
  function lineTable(rows) {
    if (!rows.length) return null;
    const cols = Object.keys(rows[0]);
    const numeric = (c) => rows.every((r) => r[c] === null || r[c] === undefined || isNum(r[c])) &&
      rows.some((r) => typeof r[c] === "number");
    if (cols.length < 2 || !numeric(cols[0])) return null;
    const ys = cols.slice(1).filter(numeric);
    return ys.length ? { x: cols[0], ys } : null;
  }

  function lineSpec(xTitle, many) {
    return {
      $schema: SCHEMA, width: "container", height: 200,
      autosize: { type: "fit-x", contains: "padding" },
      data: { name: "values" },
      mark: { type: "line", point: false, strokeWidth: 1.5, tooltip: true },
      encoding: {
        x: { field: "x", type: "quantitative", title: xTitle, scale: { zero: false } },
        y: { field: "y", type: "quantitative", title: null, scale: { zero: false } },
        color: { field: "series", type: "nominal",
          legend: many ? { orient: "bottom", title: null } : null },
      },
      config: { view: { stroke: null }, axis: { grid: true, gridOpacity: 0.4 } },
    };
  }

  async function drawLine(el, name, rows, xTitle, many) {
    const spec = lineSpec(xTitle, many);
    spec.data = { name: "values", values: rows };
    try {
      const result = await embed(el, spec, { renderer: "svg" });
      fl.views[name] = result.view;
      el.dataset.drawn = String(rows.length);
    } catch (err) {
      el.append(h("pre", { class: "error" }, `could not draw ${name}: ${err}`));
    }
  }

  /** The chart of a table, with a chart/table switch (the table hidden at first). */
  function tableChart(box, name, rows, form) {
    const el = h("div", { class: "vega azure-table", dataset: { tableChart: name } });
    const points = [];
    for (const r of rows) {
      if (typeof r[form.x] !== "number") continue;
      for (const y of form.ys) {
        if (typeof r[y] === "number") points.push({ x: r[form.x], y: r[y], series: y });
      }
    }
    const show = (which) => {
      box.dataset.shown = which;
      for (const b of box.querySelectorAll(".view-toggle button")) {
        b.classList.toggle("active", b.dataset.view === which);
      }
    };
    const toggle = h("div", { class: "view-toggle" },
      h("button", { type: "button", class: "active", dataset: { view: "chart" },
        onclick: () => show("chart") }, "chart"),
      h("button", { type: "button", dataset: { view: "table" }, onclick: () => show("table") },
        "table"));
    box.dataset.shown = "chart";
    drawLine(el, "table:" + name, points, form.x, form.ys.length > 1);
    return h("div", { class: "table-chart" }, toggle,
      h("p", { class: "hint" }, `${form.ys.join(", ")} over ${form.x} (two-variable line chart)`), el);
  }

  async function vectorsSection(src, ref) {
    const found = src.vectors ? await src.vectors(ref) : {};
    const names = Object.keys(found).filter((k) => !k.startsWith("_")).sort();
    if (!names.length) return null;
    const box = h("div", { class: "grid" });
    for (const name of names) {
      const v = found[name];
      const el = h("div", { class: "vega vector", dataset: { vector: name } });
      const what = v.kind === "list" ? "log_list" : "run.log, repeated";
      box.append(h("div", { class: "chart" },
        h("h3", null, name, h("span", { class: "kind" }, `vector of ${v.length ?? v.total} · ${what}`)),
        el, v.downsampled ? h("p", { class: "hint" }, `${v.y.length} of ${v.total} points drawn (every extreme kept)`) : null));
      const rows = v.x.map((x, i) => ({ x, y: v.y[i], series: name }));
      drawLine(el, "vector:" + name, rows, "index", false);
    }
    return section("Vectors", box);
  }

  // ------------------------------------------------------------------ what the run ran

  /** flightlog run's records (SPEC.md §19): system charts, environment, console. */
  async function executionSections(src, ref) {
    const found = src.execution ? await src.execution(ref) : {};
    return [systemSection(found.system), environmentSection(found.environment, found.signal),
      consoleSection(found.console)].filter(Boolean);
  }

  function systemSection(system) {
    const names = Object.keys(system || {});
    if (!names.length) return null;
    // One chart per family: system/cpu.3.cpu_percent and system/gpu.1.temp are series
    // ("3", "1") of the charts system/cpu.*.cpu_percent and system/gpu.*.temp.
    const families = new Map();
    for (const name of names) {
      const m = /^(.*?)\.(\d+)\.(.*)$/.exec(name);
      const family = m ? `${m[1]}.*.${m[3]}` : name;
      if (!families.has(family)) families.set(family, []);
      families.get(family).push([m ? m[2] : name, system[name]]);
    }
    const t0 = Math.min(...names.map((n) => system[n].x[0]).filter((v) => typeof v === "number"));
    const box = h("div", { class: "grid" });
    for (const [family, members] of families) {
      const rows = [];
      for (const [label, s] of members) {
        s.x.forEach((x, i) => {
          if (typeof s.y[i] === "number") rows.push({ x: (x - t0) / 60, y: s.y[i], series: label });
        });
      }
      const el = h("div", { class: "vega system", dataset: { system: family } });
      box.append(h("div", { class: "chart" }, h("h3", null, family), el));
      drawLine(el, "system:" + family, rows, "minutes", members.length > 1);
    }
    return section("System", box);
  }

  function environmentSection(env, signal) {
    if (!env && !signal) return null;
    env = env || {};
    const git = env.git || {};
    const python = env.python || {};
    const gpu = env.gpu || {};
    const job = env.job || {};
    const facts = {
      command: (env.command || []).join(" "), cwd: env.cwd, host: env.host, user: env.user,
      python: python.version, packages: env.packages,
      "git commit": git.commit, "git branch": git.branch, "git remote": git.remote,
      "uncommitted changes": git.dirty, gpus: (gpu.devices || []).join(", ") || undefined,
      "nvidia driver": gpu.driver, cuda: gpu.cuda,
      job: job.id ? `${job.scheduler} ${job.id}` : undefined, "killed by": signal,
    };
    for (const k of Object.keys(facts)) if (facts[k] === undefined || facts[k] === null) delete facts[k];
    return section("Environment", kvTable(facts, "environment"));
  }

  function consoleSection(consoleData) {
    if (!consoleData || !consoleData.lines.length) return null;
    const pre = h("pre", { class: "console" }, consoleData.lines.map((ln) =>
      h("span", { class: ln.s === "stderr" ? "stderr" : "stdout", title: when(ln.t) }, ln.x + "\n")));
    const shown = consoleData.lines.length;
    return section("Console", shown < consoleData.total
      ? h("p", { class: "hint" }, `the last ${shown} of ${consoleData.total} lines`) : null, pre);
  }

  async function tablesSection(src, ref, names) {
    if (!names || !names.length) return null;
    const body = [];
    for (const name of names) {
      const box = h("div", { class: "logged-table", dataset: { table: name } }, h("h3", null, name));
      body.push(box);
      src.table(ref, name).then((rows) => {
        const cols = rows.length ? Object.keys(rows[0]) : [];
        const form = lineTable(rows);
        if (form) box.append(tableChart(box, name, rows, form)); // a click from the table
        box.append(h("div", { class: "scroll" }, h("table", { class: "data" },
          h("thead", null, h("tr", null, cols.map((c) => h("th", null, c)))),
          h("tbody", null, rows.slice(0, TABLE_ROWS).map((row) =>
            h("tr", null, cols.map((c) => h("td", null, cell(src, ref, row[c])))))))));
        const total = rows.total ?? rows.length;
        if (total > TABLE_ROWS) {
          box.append(h("p", { class: "hint" }, `first ${TABLE_ROWS} of ${total} rows`));
        }
      }, (err) => box.append(h("pre", { class: "error" }, String(err))));
    }
    return section("Tables", ...body);
  }

  async function plotlyFigure(src, ref, item) {
    const el = h("div", { class: "plotly" });
    const text = await src.blobText(ref, item.sha256);
    const Plotly = await src.plotly();
    if (Plotly) {
      const fig = JSON.parse(text);
      await Plotly.newPlot(el, fig.data || [], fig.layout || {}, { responsive: true });
      el.dataset.drawn = "1";
    } else {
      el.append(h("p", { class: "hint" }, "plotly.js is not available here " +
        "(install plotly on the server); the figure's JSON:"), h("pre", null, text));
    }
    return el;
  }

  async function mediaSection(src, ref) {
    const media = await src.media(ref);
    const names = Object.keys(media).sort();
    if (!names.length) return null;
    const body = [];
    for (const name of names) {
      const items = media[name].slice(-12);
      const box = h("div", { class: "media", dataset: { media: name } }, h("h3", null, name));
      const gallery = h("div", { class: "gallery" });
      box.append(gallery);
      for (const item of items) {
        const label = [item.step !== null && item.step !== undefined ? `step ${item.step}` : null,
          item.caption].filter(Boolean).join(" · ");
        const fig = h("figure", null);
        gallery.append(fig);
        if (item.kind === "image") {
          const url = src.blobUrl(ref, item.sha256);
          fig.append(url ? picture(url, item.caption || name, null) : "(not included)");
        } else if (item.kind === "html") {
          fig.append(htmlFrame(src, ref, item.sha256));
        } else if (item.kind === "plotly") {
          plotlyFigure(src, ref, item).then((el) => fig.prepend(el),
            (err) => fig.prepend(h("pre", { class: "error" }, String(err))));
        }
        if (label) fig.append(h("figcaption", null, label));
      }
      body.push(box);
    }
    return section("Media", ...body);
  }

  function filesSection(src, ref, files) {
    if (!files || !files.length) return null;
    return section("Files", h("table", { class: "kv files" }, h("tbody", null, files.map((f) => {
      const url = src.fileUrl(ref, f.name);
      const base = f.name.split("/").pop();
      return h("tr", null,
        h("th", null, url ? h("a", { href: url, download: base, class: "file" }, f.name) : f.name),
        h("td", null, humanSize(f.size) + (url ? "" : " (not included in this report)")));
    }))));
  }

  // ------------------------------------------------------------------ run page

  function header(src, d) {
    const projectUrl = src.projectUrl(d.project);
    return h("header", { class: "run-header" },
      h("h1", null, d.name, " ", statusBadge(d.status)),
      h("p", { class: "meta" },
        projectUrl ? h("a", { href: projectUrl }, d.project) : d.project,
        ` / ${d.id} · created ${when(d.created)} · ${d.steps} steps`,
        d.exit_code ? ` · exit code ${d.exit_code}` : ""));
  }

  async function metricsSection(src, runs, keys, settings) {
    if (!keys.length) return { el: null, charts: [] };
    const grid = h("div", { class: "grid" });
    const charts = keys.map((key) => new MetricChart(src, runs, key, settings));
    for (const c of charts) grid.append(c.box);
    return { el: section("Metrics", settings.controls(), grid), charts };
  }

  async function runPage(root, src, ref, opts) {
    const settings = new Settings();
    let detail = await src.detail(ref);
    const page = h("div", { class: "run-page", dataset: { run: refKey(ref) },
      id: "run-" + refKey(ref) });
    root.append(page);
    const summaryBox = h("div");
    const headerBox = h("div");
    const renderInfo = () => {
      headerBox.replaceChildren(header(src, detail));
      summaryBox.replaceChildren(h("div", { class: "columns" },
        section("Summary", kvTable(detail.summary, "summary")),
        section("Config", kvTable(flatKeys(detail.config), "config")),
        section("Tags", tagLabels(detail.tags).length
          ? h("p", { class: "tags" }, tagLabels(detail.tags).map((t) => h("span", { class: "tag" }, t)))
          : h("p", { class: "empty" }, "(none)"))));
    };
    renderInfo();
    page.append(headerBox, summaryBox);
    const metricsBox = h("div");
    const restBox = h("div");
    page.append(metricsBox, restBox);
    let charts = [];
    let keys = [];
    const renderMetrics = async () => {
      const got = (await src.keys(ref)).keys;
      if (got.join("\n") === keys.join("\n") && charts.length) {
        await Promise.all(charts.map((c) => c.refresh()));
        return;
      }
      keys = got;
      settings.charts = [];
      const made = await metricsSection(src, [{ ref, label: detail.name }], keys, settings);
      charts = made.charts;
      metricsBox.replaceChildren(...(made.el ? [made.el] : []));
      await Promise.all(charts.map((c) => c.refresh()));
    };
    const renderRest = async () => {
      const parts = await Promise.all([chartsSection(src, ref), vectorsSection(src, ref),
        tablesSection(src, ref, detail.tables), mediaSection(src, ref)]);
      const ran = await executionSections(src, ref);
      restBox.replaceChildren(...parts.filter(Boolean), ...ran,
        ...[filesSection(src, ref, detail.files)].filter(Boolean));
    };
    await Promise.all([renderMetrics(), renderRest()]);
    page.dataset.loaded = "1";
    // A live run redraws itself as the daemon delivers (polling while it is running).
    if (src.live && detail.status === "running") {
      const every = (opts && opts.poll) || 2000;
      const tick = async () => {
        try {
          const fresh = await src.detail(ref);
          const grew = fresh.next_seq !== detail.next_seq || fresh.status !== detail.status;
          detail = fresh;
          if (grew) {
            renderInfo();
            await Promise.all([renderMetrics(), renderRest()]);
            page.dataset.updates = String(+(page.dataset.updates || 0) + 1);
          }
        } catch (err) {
          console.warn("flightlog: refresh failed", err);
        }
        if (detail.status === "running") setTimeout(tick, every);
      };
      setTimeout(tick, every);
    }
    return page;
  }

  // ------------------------------------------------------------------ compare

  function sideBySide(title, details, field) {
    const keys = [...new Set(details.flatMap((d) => Object.keys(d[field] || {})))].sort();
    if (!keys.length) return section(title, h("p", { class: "empty" }, "(none)"));
    return section(title, h("div", { class: "scroll" }, h("table", { class: `data side ${field}` },
      h("thead", null, h("tr", null, h("th", null, ""), details.map((d) => h("th", null, d.name)))),
      h("tbody", null, keys.map((k) => {
        const values = details.map((d) => (d[field] || {})[k]);
        const differ = new Set(values.map((v) => JSON.stringify(v))).size > 1;
        const nums = values.filter((v) => typeof v === "number");
        const lo = nums.length > 1 ? Math.min(...nums) : null;
        const hi = nums.length > 1 ? Math.max(...nums) : null;
        return h("tr", { class: differ ? "differs" : null, dataset: { key: k } }, h("th", null, k),
          values.map((v) => h("td", {
            class: differ && v === lo ? "lowest" : differ && v === hi ? "highest" : null,
          }, fmt(v))));
      })))));
  }

  async function comparePage(root, src, refs) {
    const details = await Promise.all(refs.map((r) => src.detail(r)));
    const labels = details.map((d) => d.name);
    // Two runs may share a name: the label must tell their lines apart.
    const runs = refs.map((ref, i) => ({ ref, label: labels.indexOf(labels[i]) !== i ||
      labels.lastIndexOf(labels[i]) !== i ? `${labels[i]} (${ref.id})` : labels[i] }));
    const page = h("div", { class: "compare-page" });
    root.append(page);
    page.append(h("header", { class: "run-header" }, h("h1", null, `Compare ${refs.length} runs`),
      h("p", { class: "meta" }, details.map((d, i) => {
        const url = src.runUrl(refs[i]);
        return h("span", { class: "compare-run" }, statusBadge(d.status), " ",
          url ? h("a", { href: url }, runs[i].label) : runs[i].label);
      }))));
    page.append(h("div", { class: "columns two" }, sideBySide("Summary", details, "summary"),
      sideBySide("Config", details, "config")));
    const keyLists = await Promise.all(refs.map((r) => src.keys(r)));
    const keys = [...new Set(keyLists.flatMap((k) => k.keys))].sort();
    const settings = new Settings();
    const made = await metricsSection(src, runs, keys, settings);
    if (made.el) page.append(made.el);
    // Summary against config across the runs, and their parallel coordinates.
    const across = fl.acrossRuns ? fl.acrossRuns(details.map((d, i) => ({ ...d,
      label: runs[i].label, url: src.runUrl(refs[i]) }))) : null;
    if (across) page.append(across.el);
    await Promise.all([...made.charts.map((c) => c.refresh()), across && across.drawn]);
    page.dataset.loaded = "1";
    return page;
  }

  // ------------------------------------------------------------------ runs table

  async function runsTablePage(root, src, project) {
    const query = new URLSearchParams(location.search);
    const state = {
      // The filter is kept in the URL (?filter=A&filter=B): a link shows the same runs.
      order: query.get("order") || "", filters: query.getAll("filter"), offset: 0,
      picked: new Map(JSON.parse(sessionStorage.getItem("flightlog:picked:" + project) || "[]")),
      columns: null,
    };
    const savePicked = () => sessionStorage.setItem("flightlog:picked:" + project,
      JSON.stringify([...state.picked]));
    const compareBtn = h("button", { class: "compare", onclick: () => {
      const refs = [...state.picked.keys()].map((k) => {
        const i = k.indexOf("/");
        return { project: k.slice(0, i), id: k.slice(i + 1) };
      });
      if (refs.length) location.href = src.compareUrl(refs);
    } }, "Compare");
    const filterInput = h("input", { type: "text", class: "filter", size: 50,
      placeholder: "filter, e.g. config.alpha>=0.3; status=finished; tags.baseline",
      value: state.filters.join("; ") });
    const filterForm = h("form", { class: "filter-form", onsubmit: (e) => {
      e.preventDefault();
      state.filters = filterInput.value.split(";").map((s) => s.trim()).filter(Boolean);
      state.offset = 0;
      const url = new URL(location.href);
      url.searchParams.delete("filter");
      for (const f of state.filters) url.searchParams.append("filter", f);
      history.replaceState(null, "", url);
      load();
    } }, filterInput, h("button", { type: "submit" }, "Filter"));
    const message = h("span", { class: "message" });
    const table = h("table", { class: "data runs" });
    const pager = h("div", { class: "pager" });
    const columnsBox = h("details", { class: "columns-chooser" }, h("summary", null, "columns"));
    // The experiment charts (experiment.js) above the table, following its filter and
    // the runs picked in it.
    const experimentBox = h("div", { class: "experiment" });
    const experiment = fl.experiment ? fl.experiment(experimentBox, src, project) : null;
    const tell = () => experiment && experiment.update({ filters: state.filters,
      order: state.order, picked: [...state.picked.keys()] });
    root.append(h("header", { class: "run-header" }, h("h1", null, project),
      h("p", { class: "meta" }, h("a", { href: "/" }, "all projects"))),
      h("div", { class: "toolbar" }, filterForm, compareBtn, columnsBox, message),
      experimentBox, h("div", { class: "scroll" }, table), pager);

    const colKey = "flightlog:columns:" + project;
    function chooseColumns(rows) {
      const saved = JSON.parse(localStorage.getItem(colKey) || "null");
      const found = { config: new Set(), summary: new Set() };
      for (const r of rows) {
        for (const k of Object.keys(flatKeys(r.config))) found.config.add(k);
        for (const k of Object.keys(r.summary || {})) found.summary.add(k);
      }
      const all = [...[...found.config].sort().map((k) => "config." + k),
        ...[...found.summary].sort().map((k) => "summary." + k)];
      if (!state.columns) {
        const plainConfig = [...found.config].filter(plainKey).sort();
        const plainSummary = [...found.summary].filter(plainKey).sort();
        state.columns = saved || [...plainConfig.slice(0, 6).map((k) => "config." + k),
          ...plainSummary.slice(0, 8).map((k) => "summary." + k)];
      }
      const known = new Set([...state.columns, ...all]);
      columnsBox.replaceChildren(h("summary", null, "columns"), h("div", { class: "choices" },
        [...known].map((c) => h("label", null, h("input", { type: "checkbox", value: c,
          checked: state.columns.includes(c), onchange: (e) => {
            state.columns = e.target.checked ? [...state.columns, c]
              : state.columns.filter((x) => x !== c);
            localStorage.setItem(colKey, JSON.stringify(state.columns));
            render(lastRows);
          } }), " ", keyLabel(c)))));
    }

    function sortHeader(label, field) {
      const active = state.order.replace(/^-/, "") === field;
      const arrow = active ? (state.order.startsWith("-") ? " ▼" : " ▲") : "";
      return h("th", { class: "sortable", dataset: { field }, title: field, onclick: () => {
        state.order = active && !state.order.startsWith("-") ? "-" + field : field;
        state.offset = 0;
        load();
      } }, keyLabel(label) + arrow);
    }

    let lastRows = [];
    function render(rows) {
      compareBtn.textContent = `Compare (${state.picked.size})`;
      compareBtn.disabled = state.picked.size < 1;
      const get = (r, c) => {
        const i = c.indexOf(".");
        const section = c.slice(0, i);
        return (section === "config" ? flatKeys(r.config) : r[section] || {})[c.slice(i + 1)];
      };
      table.replaceChildren(
        h("thead", null, h("tr", null, h("th", null, ""), sortHeader("status", "status"),
          sortHeader("name", "name"), sortHeader("created", "created"),
          sortHeader("steps", "steps"), h("th", null, "duration"),
          h("th", null, "last update"), h("th", null, "tags"),
          state.columns.map((c) => sortHeader(c, c)))),
        h("tbody", null, rows.map((r) => {
          const key = `${r.project}/${r.id}`;
          return h("tr", { dataset: { run: key } },
            h("td", null, h("input", { type: "checkbox", class: "pick", checked: state.picked.has(key),
              onchange: (e) => {
                if (e.target.checked) state.picked.set(key, r.name);
                else state.picked.delete(key);
                savePicked();
                render(rows);
                tell();
              } })),
            h("td", null, statusBadge(r.status), r.exit_code
              ? h("span", { class: "exit-code" }, ` exit ${r.exit_code}`) : null),
            h("td", { class: "name" }, h("a", { href: src.runUrl(r) }, r.name)),
            h("td", null, when(r.created)), h("td", { class: "num" }, r.steps),
            h("td", { class: "num duration" }, duration(r.duration)),
            h("td", { class: "updated" }, when(r.last_update)),
            h("td", null, tagLabels(r.tags).map((t) => h("span", { class: "tag" }, t))),
            state.columns.map((c) => h("td", { class: "num", dataset: { col: c } }, fmt(get(r, c)))));
        })));
    }

    let timer = null;
    async function load() {
      clearTimeout(timer);
      let answer;
      try {
        answer = await src.runs(project, { order: state.order, filters: state.filters,
          offset: state.offset, limit: PAGE });
        message.textContent = "";
      } catch (err) {
        message.textContent = String(err.message || err);
        return;
      }
      lastRows = answer.runs;
      chooseColumns(lastRows);
      render(lastRows);
      const start = state.offset + 1;
      pager.replaceChildren(
        h("button", { class: "prev", disabled: state.offset === 0, onclick: () => {
          state.offset = Math.max(0, state.offset - PAGE);
          load();
        } }, "◀ previous"),
        h("span", { class: "count", dataset: { total: answer.total } }, lastRows.length
          ? ` runs ${start}–${state.offset + lastRows.length} of ${answer.total}` +
            `${state.filters.length ? " matching" : ""} `
          : state.filters.length ? " no runs match " : " no runs "),
        h("button", { class: "next", disabled: lastRows.length < PAGE ||
            state.offset + lastRows.length >= answer.total, onclick: () => {
          state.offset += PAGE;
          load();
        } }, "next ▶"));
      table.dataset.loaded = String(+(table.dataset.loaded || 0) + 1);
      table.dataset.loadedAt = String(performance.now());
      tell();
      // Live: statuses and summaries change while runs sync; refresh the page shown.
      timer = setTimeout(load, lastRows.some((r) => r.status === "running") ? 3000 : 15000);
    }
    tell(); // the experiment's request goes out beside the table's first one
    await load();
  }

  async function projectsPage(root, src) {
    const projects = await src.projects();
    root.append(h("header", { class: "run-header" }, h("h1", null, "Projects")),
      projects.length ? h("table", { class: "data projects" },
        h("thead", null, h("tr", null, h("th", null, "project"), h("th", null, "runs"),
          h("th", null, "last update"))),
        h("tbody", null, projects.map((p) => h("tr", null,
          h("td", null, h("a", { href: src.projectUrl(p.project) }, p.project)),
          h("td", { class: "num" }, p.runs), h("td", null, when(p.updated))))))
        : h("p", { class: "empty" }, "No runs yet: ship some with `flightlog sync`."));
  }

  // ------------------------------------------------------------------ entry point

  function inlineData() {
    if (window.FLIGHTLOG_DATA) return window.FLIGHTLOG_DATA;
    const el = document.getElementById("flightlog-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  /** Draw the page described by boot = {view, project, run, runs, poll}. */
  async function start(boot) {
    const root = document.getElementById("app");
    const data = inlineData();
    const src = data ? inlineSource(data) : httpSource();
    fl.source = src;
    try {
      if (boot.view === "projects") await projectsPage(root, src);
      else if (boot.view === "runs") await runsTablePage(root, src, boot.project);
      else if (boot.view === "run") await runPage(root, src, boot.runs[0], boot);
      else if (boot.view === "compare") await comparePage(root, src, boot.runs);
      else if (boot.view === "report") {
        if (boot.runs.length > 1) {
          await comparePage(root, src, boot.runs);
          root.append(h("hr"));
        }
        for (const ref of boot.runs) await runPage(root, src, ref, boot);
      }
      root.dataset.ready = "1";
    } catch (err) {
      root.append(h("pre", { class: "error" }, String(err && err.stack ? err.stack : err)));
      root.dataset.error = String(err);
      throw err;
    }
  }

  fl.start = start;
  // What experiment.js (the experiment page and the compare view's across-run charts)
  // draws with: the same helpers, safety rules and metric charts as these pages.
  fl.lib = { h, embed, fmt, when, smooth, section, statusBadge, refKey, Settings, MetricChart,
    SCHEMA };
  fl.smooth = smooth;

  // Pages carry what to draw as data (<script type="application/json" id="flightlog-boot">):
  // no inline script, so their CSP can forbid every script but this file and the bundle.
  function boot() {
    const el = document.getElementById("flightlog-boot");
    if (el) start(JSON.parse(el.textContent));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
