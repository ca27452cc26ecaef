/* flightlog's charts across runs: the experiment page (above the runs table of
 * /projects/P) and the compare view's "Across runs" section (the server's /compare and
 * the offline report of several runs). Loaded after flightlog.js, whose helpers and
 * metric charts it uses (window.flightlog.lib); no build step, no inline script.
 *
 * The experiment page follows the runs table: the runs picked in it, else every run its
 * filter matches (up to MAX_RUNS), fetched in ONE request (GET
 * /api/v1/projects/P/series: config, summary and every metric downsampled, the points
 * per run shrinking as runs grow so that a chart stays about BUDGET points). It shows:
 *   - best-run tiles: the run with the lowest or highest summary value of a metric,
 *     linking to it;
 *   - a line chart per metric, every run overlaid (legend up to MAX_LEGEND runs, the run
 *     under the mouse named above the chart), with the run page's x axis and smoothing controls;
 *   - a summary value against a config value (a point per run; click opens the run);
 *   - parallel coordinates of the numeric config values and the summary value.
 * Which charts show, the tiles, the scatter's axes and the smoothing live in the query
 * string (?metrics=a,b&scatter=alpha:rmse&parallel=off&best=rmse:min&smoothing=0.6): a
 * link or a reload shows the same page.
 *
 * Test hooks: window.flightlog.charts[KEY] (the overlay of metric KEY, as on the run
 * page; its view's data "series" holds the points drawn, a row with y null between
 * runs when they are many), flightlog.manyRuns and flightlog.exactRuns (set before the
 * page draws: more runs than these are drawn as many, zoomed from the overviews),
 * window.flightlog.views["experiment:scatter"|"experiment:parallel"] (data "values"), .experiment[data-loaded] counts loads, data-painted-at stamps the first
 * overlay drawn (performance.now()).
 */
(function () {
  "use strict";

  const fl = window.flightlog;
  if (!fl || !fl.lib) return;
  const { h, embed, fmt, section, refKey, Settings, MetricChart, SCHEMA } = fl.lib;

  const MAX_RUNS = 1000; // runs one request overlays (MAX_RUNS in server/chartdata.py)
  // Points of one overlay chart, over all its runs: Vega evaluates its encoders per
  // point, interpreted (the CSP forbids eval), about 20 us each on this 2-core machine;
  // 12,000 points draw in well under a second. The run page shows every point.
  const BUDGET = 12000; // PAGE_BUDGET in server/chartdata.py
  const MAX_POINTS = 400; // per run (OVERVIEW_POINTS in server/chartdata.py)
  const MAX_LEGEND = 20; // runs named in a legend; beyond that, on hover only
  // Runs whose zoomed range is fetched whole (a request each), beyond that from the
  // server's overviews in one request. A test may lower it (flightlog.exactRuns).
  const EXACT_RUNS_DEFAULT = 20;
  const HOVER_PX = 12; // how near the mouse a line must pass to be named
  const SVG_ROWS = 600; // rows of an across-run chart drawn as SVG, beyond that canvas
  const DEFAULT_METRICS = 8; // overlays shown before the user chooses
  const PARALLEL_AXES = 8; // config axes of the parallel coordinates

  const LOWER_IS_BETTER = /loss|err|rmse|mse|mae|mape|perplex|time|latency/i;
  const num = (v) => typeof v === "number" && Number.isFinite(v);

  /** The unique label of each run (a name shared by two runs gets the run id). */
  function labels(runs) {
    const names = runs.map((r) => r.name || r.id);
    return runs.map((r, i) => (names.indexOf(names[i]) !== names.lastIndexOf(names[i])
      ? `${names[i]} (${r.id})` : names[i]));
  }

  // ------------------------------------------------------------------ the query string

  function readQuery() {
    const q = new URLSearchParams(location.search);
    const list = (k) => (q.has(k) ? q.get(k).split(",").filter(Boolean) : null);
    return {
      metrics: list("metrics"),
      scatter: q.get("scatter"), // "CONFIG:SUMMARY" or "off"
      parallel: q.get("parallel") !== "off",
      best: list("best"), // ["rmse:min", ...]
      smoothing: Math.min(Math.max(+q.get("smoothing") || 0, 0), 0.99),
    };
  }

  function writeQuery(change) {
    const url = new URL(location.href);
    for (const [k, v] of Object.entries(change)) {
      if (v === null || v === undefined) url.searchParams.delete(k);
      else url.searchParams.set(k, v);
    }
    history.replaceState(null, "", url);
  }

  // ------------------------------------------------------------------ across-run charts

  function keysOf(runs, field, numericOnly) {
    const found = new Set();
    for (const r of runs) {
      for (const [k, v] of Object.entries(r[field] || {})) {
        if (!numericOnly || num(v)) found.add(k);
      }
    }
    return [...found].sort();
  }

  /** The config key that varies most across the runs (the swept one). */
  function sweptKey(runs, keys) {
    let best = keys[0] || null;
    let most = 0;
    for (const k of keys) {
      const n = new Set(runs.map((r) => JSON.stringify((r.config || {})[k]))).size;
      if (n > most) { most = n; best = k; }
    }
    return best;
  }

  async function drawView(el, name, spec, rows) {
    spec.data = { name: "values" };
    // SVG (a DOM node per mark) for a few runs, canvas for many; a canvas has no use for
    // Vega-Lite's ARIA descriptions (two format() calls per point, interpreted).
    const many = rows.length > SVG_ROWS;
    if (many) spec.config = { ...(spec.config || {}), aria: false };
    const result = await embed(el, spec, { renderer: many ? "canvas" : "svg" }, { values: rows });
    fl.views[name] = result.view;
    el.dataset.drawn = String(rows.length);
    return result.view;
  }

  /** A point per run: summary[y] against config[x]; clicking a point opens its run. */
  async function drawScatter(el, runs, x, y) {
    const rows = [];
    for (const r of runs) {
      const cx = (r.config || {})[x];
      const sy = (r.summary || {})[y];
      if (cx === undefined || cx === null || !num(sy)) continue;
      rows.push({ run: r.label, id: r.id, x: typeof cx === "object" ? JSON.stringify(cx) : cx,
        // Not "url"/"href": the chart safety rules drop those keys from any spec.
        y: sy, target: r.url || "" });
    }
    el.replaceChildren();
    if (!rows.length) {
      el.append(h("p", { class: "empty" }, `no run has both config.${x} and summary.${y}`));
      el.dataset.drawn = "0";
      return;
    }
    const quantitative = rows.every((r) => num(r.x));
    const spec = {
      $schema: SCHEMA, width: "container", height: 240,
      autosize: { type: "fit-x", contains: "padding" },
      mark: { type: "point", filled: true, size: 70, tooltip: true, cursor: "pointer" },
      encoding: {
        x: { field: "x", type: quantitative ? "quantitative" : "nominal", title: `config.${x}`,
          scale: quantitative ? { zero: false, padding: 12 } : {} },
        y: { field: "y", type: "quantitative", title: `summary.${y}`,
          scale: { zero: false, padding: 12 } },
        tooltip: [{ field: "run", title: "run" }, { field: "x", title: x }, { field: "y", title: y }],
      },
      config: { view: { stroke: null }, axis: { grid: true, gridOpacity: 0.4 } },
    };
    const view = await drawView(el, "experiment:scatter", spec, rows);
    view.addEventListener("click", (_, item) => {
      if (item && item.datum && item.datum.target) location.href = item.datum.target;
    });
  }

  const BANDS = 8; // colour bands of the parallel coordinates of many runs

  /** Many runs' parallel coordinates (``rows``: a row per run and axis, in axis order;
   * ``layer``: the lines' layer): a line per colour band, not per run. Vega draws each
   * line as a group of its own, a thousand groups cost seconds; here the runs of each of
   * BANDS equal bands of the coloured summary value share one line, broken between runs
   * (a row with norm null), coloured by the band's middle. ``rows`` is rewritten in
   * place: run by run, each run's rows in axis order, with the breaks; no tooltip (it
   * is evaluated for every point). */
  function banded(rows, order, layer) {
    const colours = rows.map((r) => r.color).filter(num);
    const lo = Math.min(...colours);
    const hi = Math.max(...colours);
    const band = (v) => (num(v) && hi > lo ? Math.min(BANDS - 1, Math.floor((v - lo) / (hi - lo) * BANDS)) : 0);
    const middle = (b) => (hi > lo ? lo + (b + 0.5) * (hi - lo) / BANDS : lo);
    const byRun = new Map();
    for (const r of rows) {
      if (!byRun.has(r.run)) byRun.set(r.run, []);
      byRun.get(r.run).push(r);
    }
    const lines = [...byRun.values()].map((list) => ({ b: band(list[0].color), list }))
      .sort((a, b) => a.b - b.b);
    rows.length = 0;
    let last = null;
    for (const { b, list } of lines) {
      const color = middle(b);
      if (last === b) rows.push({ run: list[0].run, axis: order[0], value: null, norm: null, color, band: b });
      for (const r of list) rows.push({ ...r, color, band: b });
      last = b;
    }
    delete layer.encoding.tooltip;
    layer.encoding.detail = { field: "band", type: "nominal" };
    layer.encoding.order = { value: null }; // data order: run by run
    if (colours.length) layer.encoding.color.scale.domain = [lo, hi];
    layer.mark.invalid = "break-paths-show-domains";
  }

  /** Parallel coordinates: each numeric config axis, then summary[y]; a line per run,
   * each axis scaled to its own range (labelled with its min and max). */
  async function drawParallel(el, runs, axes, y) {
    const all = [...axes.map((k) => ({ key: k, field: "config" })), { key: y, field: "summary" }];
    const used = all.filter((a) => runs.some((r) => num((r[a.field] || {})[a.key])));
    el.replaceChildren();
    if (used.length < 2 || !y) {
      el.append(h("p", { class: "empty" }, "needs a numeric config value and a summary value"));
      el.dataset.drawn = "0";
      return;
    }
    const rows = [];
    const ends = [];
    for (const a of used) {
      const name = `${a.field}.${a.key}`;
      const values = runs.map((r) => (r[a.field] || {})[a.key]).filter(num);
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      ends.push({ axis: name, norm: 1, label: fmt(hi) }, { axis: name, norm: 0, label: fmt(lo) });
      for (const r of runs) {
        const v = (r[a.field] || {})[a.key];
        if (!num(v)) continue;
        rows.push({ run: r.label, axis: name, value: v, norm: hi > lo ? (v - lo) / (hi - lo) : 0.5,
          color: (r.summary || {})[y] });
      }
    }
    const order = used.map((a) => `${a.field}.${a.key}`);
    const x = { field: "axis", type: "nominal", sort: order, title: null,
      axis: { orient: "bottom", labelAngle: 0, domain: false, ticks: false } };
    const spec = {
      $schema: SCHEMA, width: "container", height: 240,
      autosize: { type: "fit-x", contains: "padding" },
      layer: [
        { data: { values: order.map((axis) => ({ axis })) }, mark: { type: "rule", color: "#999" },
          encoding: { x } },
        { mark: { type: "line", strokeWidth: 1.5, opacity: 0.75, tooltip: true },
          encoding: { x, y: { field: "norm", type: "quantitative", axis: null, scale: { domain: [0, 1] } },
            detail: { field: "run", type: "nominal" },
            color: { field: "color", type: "quantitative", title: `summary.${y}`,
              scale: { scheme: "viridis" } },
            tooltip: [{ field: "run", title: "run" }, { field: "axis" }, { field: "value" }] } },
        { data: { values: ends }, mark: { type: "text", dx: 4, align: "left", fontSize: 10 },
          encoding: { x, y: { field: "norm", type: "quantitative" }, text: { field: "label" } } },
      ],
      config: { view: { stroke: null } },
    };
    if (rows.length > SVG_ROWS) banded(rows, order, spec.layer[1]);
    await drawView(el, "experiment:parallel", spec, rows);
  }

  function select(cls, options, chosen, onchange) {
    return h("select", { class: cls, onchange: (e) => onchange(e.target.value) },
      options.map((o) => h("option", { value: o, selected: o === chosen }, o)));
  }

  /** The "summary against config" and parallel coordinates cards of ``runs`` (each with
   * config, summary, label, id and url). ``state`` {x, y, parallel} is kept in the URL by
   * the experiment page (``save``), local to the compare view. */
  function acrossCards(runs, state, save) {
    const configKeys = keysOf(runs, "config", false);
    const summaryKeys = keysOf(runs, "summary", true);
    if (!configKeys.length || !summaryKeys.length) return { cards: [], draw: async () => null };
    if (!configKeys.includes(state.x)) state.x = sweptKey(runs, configKeys);
    if (!summaryKeys.includes(state.y)) state.y = summaryKeys[0];
    const scatterEl = h("div", { class: "vega across scatter" });
    const parallelEl = h("div", { class: "vega across parallel" });
    const numericConfig = keysOf(runs, "config", true);
    const axes = [state.x, ...numericConfig.filter((k) => k !== state.x)]
      .filter((k) => numericConfig.includes(k)).slice(0, PARALLEL_AXES);
    const draw = () => Promise.all([
      state.scatter !== false ? drawScatter(scatterEl, runs, state.x, state.y) : null,
      state.parallel !== false ? drawParallel(parallelEl, runs, axes, state.y) : null]);
    const pick = (field) => (v) => {
      state[field] = v;
      if (save) save(state);
      draw();
    };
    const cards = [];
    if (state.scatter !== false) {
      cards.push(h("div", { class: "chart", dataset: { across: "scatter" } },
        h("h3", null, "summary ", select("scatter-y", summaryKeys, state.y, pick("y")),
          " against config ", select("scatter-x", configKeys, state.x, pick("x"))), scatterEl));
    }
    if (state.parallel !== false) {
      cards.push(h("div", { class: "chart", dataset: { across: "parallel" } },
        h("h3", null, "parallel coordinates: config → summary"), parallelEl));
    }
    return { cards, draw };
  }

  /** The compare view's "Across runs" section (flightlog.js calls it), or null. */
  fl.acrossRuns = (runs) => {
    if (runs.length < 2) return null;
    const made = acrossCards(runs, {}, null);
    if (!made.cards.length) return null;
    return { el: section("Across runs", h("div", { class: "grid two" }, made.cards)),
      drawn: made.draw() };
  };

  // ------------------------------------------------------------------ best-run tiles

  function bestOf(runs, key, dir) {
    let best = null;
    for (const r of runs) {
      const v = (r.summary || {})[key];
      if (!num(v)) continue;
      if (!best || (dir === "max" ? v > best.value : v < best.value)) best = { run: r, value: v };
    }
    return best;
  }

  // ------------------------------------------------------------------ the experiment page

  class Experiment {
    constructor(box, src, project) {
      this.box = box;
      this.src = src;
      this.project = project;
      this.query = readQuery();
      this.settings = new Settings();
      this.settings.smoothing = this.query.smoothing;
      this.signature = null;
      this.data = null;
      this.axis = "_step";
      this.fetched = 0;
      this.loads = 0;
    }

    async update(table) {
      if (!this.src.live) return;
      const mine = table.picked.filter((k) => k.startsWith(this.project + "/"))
        .map((k) => k.slice(this.project.length + 1));
      const signature = JSON.stringify([table.filters, mine]);
      const running = this.data && this.data.runs.some((r) => r.status === "running");
      // Reloaded when the filter or the picked runs change, and while runs are live.
      if (signature === this.signature && !(running && performance.now() - this.fetched > 10000)) {
        return;
      }
      this.signature = signature;
      this.table = { filters: table.filters, picked: mine };
      try {
        this.data = await this.fetch(this.axis);
      } catch (err) {
        this.box.replaceChildren(h("pre", { class: "error" }, String(err.message || err)));
        return;
      }
      await this.render();
    }

    /** The series of the table's runs over ``axis`` (``more``: keys, start, end). */
    async fetch(axis, more) {
      // The first request (no run picked, steps) is the one the page preloads: the same
      // URL, spelled as server/chartdata.py's page_series_url() spells it.
      const params = new URLSearchParams({ points: MAX_POINTS, budget: BUDGET, x: axis,
        limit: MAX_RUNS });
      if (this.table.picked.length) params.set("runs", this.table.picked.join(","));
      else for (const f of this.table.filters) params.append("filter", f);
      for (const [k, v] of Object.entries(more || {})) params.set(k, v);
      const path = `/api/v1/projects/${encodeURIComponent(this.project)}/series?${params}`;
      const r = await fetch(path, { credentials: "same-origin" });
      if (!r.ok) {
        let why = `HTTP ${r.status}`;
        try { why = (await r.json()).message || why; } catch (_) { /* not JSON */ }
        throw new Error(`experiment charts: ${why}`);
      }
      const data = await r.json();
      if (more) return data; // a zoom's detail: not the page's runs
      this.fetched = performance.now();
      if (!this.box.dataset.fetchedAt) this.box.dataset.fetchedAt = String(this.fetched);
      const names = labels(data.runs);
      data.runs.forEach((run, i) => {
        run.label = names[i];
        run.url = this.src.runUrl({ project: this.project, id: run.id });
      });
      return data;
    }

    /** A source for MetricChart: the bulk answer's series (no per-run requests). A zoom
     * asks for the zoomed range in more detail: every point of each run's history when
     * a few runs are overlaid (up to EXACT_RUNS_DEFAULT: the run page's series requests), else
     * one request for all of them, answered from the server's overviews of the runs
     * (OVERVIEW_POINTS each), the same budget spent on the range alone. */
    source() {
      const byId = new Map(this.data.runs.map((r) => [r.id, r]));
      const empty = { x: [], y: [], total: 0, downsampled: false };
      const zoomed = new Map(); // key|x|range -> promise of the bulk answer's runs by id
      return {
        series: async (ref, key, x, range) => {
          if (range) {
            if (byId.size <= (fl.exactRuns ?? EXACT_RUNS_DEFAULT)) return this.src.series(ref, key, x, range);
            const memo = JSON.stringify([key, x, range]);
            if (!zoomed.has(memo)) {
              if (zoomed.size > 8) zoomed.clear();
              zoomed.set(memo, this.fetch(x, { keys: key, start: range[0], end: range[1] })
                .then((d) => new Map(d.runs.map((r) => [r.id, r]))));
            }
            return ((await zoomed.get(memo)).get(ref.id)?.series || {})[key] || empty;
          }
          if (x !== this.axis) {
            this.axis = x;
            this.axisFetch = this.axisFetch || this.fetch(x).then((d) => { this.data = d; });
            await this.axisFetch;
            this.axisFetch = null;
            return (new Map(this.data.runs.map((r) => [r.id, r])).get(ref.id)?.series || {})[key] || empty;
          }
          return (byId.get(ref.id)?.series || {})[key] || empty;
        },
      };
    }

    chosenMetrics() {
      const keys = this.data.keys;
      if (this.query.metrics) return this.query.metrics.filter((k) => keys.includes(k));
      return keys.slice(0, DEFAULT_METRICS);
    }

    chooser(summaryKeys) {
      const keys = this.data.keys;
      const shown = new Set(this.chosenMetrics());
      // Stays open while charts are switched on and off (each switch redraws the page).
      const box = h("details", { class: "charts-chooser", open: this.chooserOpen,
        ontoggle: (e) => { this.chooserOpen = e.target.open; } }, h("summary", null, "charts"));
      const toggle = (label, checked, onchange, dataset) => h("label", null,
        h("input", { type: "checkbox", checked, dataset, onchange: (e) => onchange(e.target.checked) }),
        " ", label);
      box.append(h("div", { class: "choices" },
        keys.map((k) => toggle(k, shown.has(k), (on) => {
          const now = new Set(this.chosenMetrics());
          if (on) now.add(k); else now.delete(k);
          this.query.metrics = keys.filter((x) => now.has(x));
          writeQuery({ metrics: this.query.metrics.join(",") || "," });
          this.render();
        }, { chart: "metric:" + k })),
        summaryKeys.length ? [
          toggle("summary against config", this.query.scatter !== "off", (on) => {
            this.query.scatter = on ? null : "off";
            writeQuery({ scatter: this.query.scatter });
            this.render();
          }, { chart: "scatter" }),
          toggle("parallel coordinates", this.query.parallel, (on) => {
            this.query.parallel = on;
            writeQuery({ parallel: on ? null : "off" });
            this.render();
          }, { chart: "parallel" })] : []));
      return box;
    }

    tiles(summaryKeys) {
      const runs = this.data.runs;
      let best = this.query.best;
      if (!best) {
        best = summaryKeys.length ? [`${summaryKeys[0]}:${LOWER_IS_BETTER.test(summaryKeys[0]) ? "min" : "max"}`] : [];
      }
      const save = (list) => {
        this.query.best = list;
        writeQuery({ best: list.join(",") || "," });
        this.render();
      };
      const tiles = best.map((item, i) => {
        const [key, dir] = item.split(":");
        const found = bestOf(runs, key, dir === "max" ? "max" : "min");
        return h("div", { class: "tile", dataset: { metric: key, dir: dir === "max" ? "max" : "min" } },
          h("div", { class: "tile-title" }, `${dir === "max" ? "highest" : "lowest"} summary.${key}`,
            h("button", { type: "button", class: "remove", title: "remove this tile",
              onclick: () => save(best.filter((_, j) => j !== i)) }, "×")),
          found ? h("a", { class: "best-run", href: found.run.url, dataset: { run: found.run.id } },
            found.run.label) : h("span", { class: "empty" }, "no run has it"),
          found ? h("div", { class: "tile-value" }, fmt(found.value)) : null);
      });
      const metric = select("tile-metric", summaryKeys, summaryKeys[0], () => {});
      const dir = select("tile-dir", ["min", "max"], "min", () => {});
      const add = h("form", { class: "tile add-tile", onsubmit: (e) => {
        e.preventDefault();
        save([...best, `${metric.value}:${dir.value}`]);
      } }, h("div", { class: "tile-title" }, "best run by"), metric, dir,
      h("button", { type: "submit" }, "add tile"));
      return h("div", { class: "tiles" }, tiles, summaryKeys.length ? add : null);
    }

    async render() {
      const data = this.data;
      const runs = data.runs;
      this.loads++;
      this.settings.charts = [];
      fl.charts = {};
      if (!runs.length) {
        this.box.replaceChildren();
        this.box.dataset.loaded = String(this.loads);
        return;
      }
      const summaryKeys = keysOf(runs, "summary", true);
      const what = this.table.picked.length ? `the ${runs.length} picked runs`
        : runs.length < data.total ? `the first ${runs.length} of ${data.total} runs (filter to narrow)`
          : `${runs.length} run${runs.length === 1 ? "" : "s"}${this.table.filters.length ? " matching the filter" : ""}`;
      const controls = this.settings.controls();
      const slider = controls.querySelector("input.smoothing");
      slider.value = String(this.settings.smoothing);
      controls.querySelector(".smoothing-value").textContent = String(this.settings.smoothing);
      slider.addEventListener("change", () => writeQuery({ smoothing: +slider.value || null }));
      const refs = runs.map((r) => ({ ref: { project: this.project, id: r.id }, label: r.label }));
      const src = this.source();
      const charts = this.chosenMetrics().map((key) => new OverlayChart(src, refs, key, this.settings));
      let across = { cards: [], draw: async () => null };
      if (runs.length > 1 && (this.query.scatter !== "off" || this.query.parallel)) {
        const [x, y] = (this.query.scatter && this.query.scatter !== "off"
          ? this.query.scatter : ":").split(":");
        across = acrossCards(runs, { x, y, scatter: this.query.scatter !== "off",
          parallel: this.query.parallel }, (s) => {
          this.query.scatter = `${s.x}:${s.y}`;
          writeQuery({ scatter: this.query.scatter });
        });
      }
      this.box.replaceChildren(section("Experiment",
        h("div", { class: "toolbar" }, this.chooser(summaryKeys), controls,
          h("span", { class: "hint overlaid" }, `overlaying ${what}`)),
        this.tiles(summaryKeys),
        h("div", { class: "grid" }, charts.map((c) => c.box)),
        across.cards.length ? h("div", { class: "grid two" }, across.cards) : null));
      // The first overlay first (first paint), then the rest.
      if (charts.length) {
        await charts[0].refresh();
        if (!this.box.dataset.paintedAt) this.box.dataset.paintedAt = String(performance.now());
      }
      // Then the rest, one at a time with a task between them: Vega draws a chart in one
      // go, and the page answers clicks and scrolls between charts (a thousand runs: a
      // few hundred ms each), not only after all of them.
      for (const chart of charts.slice(1)) {
        await nextTask();
        await chart.refresh();
      }
      await nextTask();
      await across.draw();
      this.box.dataset.loaded = String(this.loads);
    }
  }

  const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

  const LINES = "flightlogLines"; // the expression function of linesPath

  /** The SVG path of ``rows``' (x, row[field]) points, through the linear map of domain
   * ``dx`` onto range ``rx`` (x) and ``dy`` onto ``ry`` (y): a move to each row after
   * one whose x or value is null (a break between runs), a line to the others. */
  function linesPath(rows, field, dx, rx, dy, ry) {
    const x0 = +dx[0];
    const y0 = +dy[0];
    const kx = (rx[1] - rx[0]) / ((+dx[dx.length - 1] - x0) || 1);
    const ky = (ry[1] - ry[0]) / ((+dy[dy.length - 1] - y0) || 1);
    const out = [];
    let pen = false;
    for (const r of rows) {
      const x = r.x;
      const y = r[field];
      if (x === null || y === null || y === undefined) { pen = false; continue; }
      out.push((pen ? "L" : "M") + (rx[0] + (x - x0) * kx).toFixed(2) + "," + (ry[0] + (y - y0) * ky).toFixed(2));
      pen = true;
    }
    return out.join("");
  }

  /** The run page's metric chart, for many runs: a legend only for a few, the run under
   * the mouse named above the chart (a readout, not Vega's tooltip: a tooltip is
   * evaluated for every point, which costs seconds at a thousand runs), and one line per
   * run until smoothing asks for the smoothed one as well. */
  class OverlayChart extends MetricChart {
    constructor(src, runs, key, settings) {
      super(src, runs, key, settings);
      this.readout = h("span", { class: "hover-run" });
      this.box.querySelector("h3").append(this.readout);
    }

    mode() {
      return this.many() ? "vega" : "vega-lite";
    }

    spec() {
      if (this.many()) return this.manySpec();
      const spec = super.spec();
      if (!(this.settings.smoothing > 0)) {
        spec.layer = [spec.layer[0]];
        delete spec.layer[0].encoding.opacity;
      }
      return spec;
    }

    /** Many runs: a Vega spec written for the purpose, not compiled from Vega-Lite, and
     * the lines of all runs ONE path item. Vega's CSP-safe expression interpreter costs
     * a fresh evaluation context per channel per item (~3 us each, and garbage): a line
     * mark of 7,000 points (1,000 runs) evaluates ~40,000 of them, which is most of the
     * first paint; Vega-Lite's line adds an ARIA description (two format() calls per
     * point) and a four-call validity test on top. Here the points stay the data
     * ("series": the rows, scales' domains, hover, tests) and one expression function
     * (LINES, run natively) maps them through the x and y scales' domain and range (both
     * linear: the same pixels Vega's line mark would draw) into one SVG path, a run's
     * line broken at the row with y null between runs (rows()). One colour: a palette
     * cannot tell a thousand runs apart. Zoom as the Vega-Lite charts: wheel zooms x,
     * drag pans, double click resets; signal "zoom" is {x: [lo, hi]} (what
     * MetricChart.onZoom reads) or null. */
    manySpec() {
      const time = this.settings.x === "_timestamp";
      const layered = this.settings.smoothing > 0;
      const range = this.range ? (time ? this.range.map((v) => v * 1000) : this.range) : null;
      const size = "isFinite(containerSize()[0]) ? containerSize()[0] : 300";
      const path = (field, opacity) => ({
        type: "path", clip: true, interactive: false,
        encode: { update: { x: { value: 0 }, y: { value: 0 },
          path: { signal: `${LINES}(data('series'), '${field}', domain('x'), range('x'), domain('y'), range('y'))` },
          stroke: { value: "#4c78a8" }, strokeOpacity: { value: opacity }, strokeWidth: { value: 1.5 } } },
      });
      const axis = { grid: true, gridOpacity: 0.4, labelOverlap: true, zindex: 0 };
      const between = [{ source: "view", type: "pointerdown" }, { source: "window", type: "pointerup" }];
      const wheel = { source: "view", type: "wheel", consume: true };
      return {
        $schema: "https://vega.github.io/schema/vega/v6.json",
        autosize: { type: "fit-x", contains: "padding" }, padding: 5, height: 220,
        data: [{ name: "series" }],
        signals: [
          { name: "width", init: size, on: [{ events: "window:resize", update: size }] },
          { name: "zoom_x", value: range, on: [
            { events: { source: "view", type: "dblclick" }, update: "null" },
            { events: { signal: "pan_delta" }, update: "panLinear(pan_anchor.extent, -pan_delta / width)" },
            { events: { signal: "wheel_delta" }, update: "zoomLinear(domain('x'), wheel_anchor, wheel_delta)" }] },
          { name: "pan_anchor", value: {}, on: [{ events: between[0], update: "{x: x(), extent: domain('x')}" }] },
          { name: "pan_delta", value: 0, on: [{ events: { source: "window", type: "pointermove",
            consume: true, between }, update: "pan_anchor.x - x()" }] },
          { name: "wheel_anchor", value: null, on: [{ events: wheel, update: "invert('x', x())" }] },
          { name: "wheel_delta", value: 1, on: [{ events: wheel, force: true,
            update: "pow(1.001, event.deltaY * pow(16, event.deltaMode))" }] },
          { name: "zoom", update: "zoom_x ? {x: zoom_x} : null" },
        ],
        scales: [
          { name: "x", type: time ? "time" : "linear", domain: { data: "series", field: "x" },
            domainRaw: { signal: "zoom_x" }, range: [0, { signal: "width" }], zero: false, nice: !time },
          { name: "y", type: "linear", domain: { data: "series", fields: layered ? ["y", "ys"] : ["y"] },
            range: [{ signal: "height" }, 0], zero: false, nice: true },
        ],
        axes: [
          { ...axis, scale: "x", orient: "bottom", title: time ? "time" : "step", labelFlush: true,
            tickCount: { signal: "ceil(width/40)" }, ...(time ? {} : { format: "d", tickMinStep: 1 }) },
          { ...axis, scale: "y", orient: "left", tickCount: { signal: "ceil(height/40)" } },
        ],
        marks: layered ? [path("y", 0.125), path("ys", 1)] : [path("y", 0.5)],
      };
    }

    embedOptions() {
      const options = super.embedOptions();
      if (this.many()) options.expressionFunctions = { [LINES]: linesPath };
      return options;
    }

    many() {
      return this.runs.length > (fl.manyRuns ?? MAX_LEGEND); // a test may lower it
    }

    rows() {
      const made = super.rows();
      if (!this.many()) return made;
      const rows = [];
      let last = null;
      for (const r of made.rows) {
        if (last !== null && r.run !== last) rows.push({ run: r.run, x: null, y: null, ys: null, o: r.o });
        rows.push(r);
        last = r.run;
      }
      return { rows, full: made.full };
    }

    async draw() {
      const layered = this.settings.smoothing > 0;
      if (this.view && this.layered !== layered) {
        this.view.finalize();
        this.view = null;
      }
      this.layered = layered;
      await super.draw();
      if (this.view && this.hooked !== this.view) {
        this.hooked = this.view;
        this.view.addEventListener("mousemove", (event) => this.hover(event));
        this.view.addEventListener("mouseout", () => this.hover(null));
      }
    }

    /** Name the run whose line passes nearest the mouse (within HOVER_PX, vertically, at
     * the mouse's x; each line interpolated between its points). */
    hover(event) {
      let found = "";
      if (event && this.view) {
        const canvas = this.el.querySelector("canvas");
        const box = canvas.getBoundingClientRect();
        const [ox, oy] = this.view.origin();
        const px = event.clientX - box.left - ox;
        const py = event.clientY - box.top - oy;
        const sx = this.view.scale("x");
        const sy = this.view.scale("y");
        const at = +sx.invert(px) / (this.settings.x === "_timestamp" ? 1000 : 1);
        let nearest = HOVER_PX;
        for (const r of this.runs) {
          const s = this.overview.get(refKey(r.ref));
          if (!s || !s.x.length || at < s.x[0] || at > s.x[s.x.length - 1]) continue;
          let lo = 0;
          let hi = s.x.length - 1;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (s.x[mid] < at) lo = mid + 1; else hi = mid;
          }
          const y = lo === 0 || s.x[lo] === s.x[lo - 1] ? s.y[lo]
            : s.y[lo - 1] + (s.y[lo] - s.y[lo - 1]) * (at - s.x[lo - 1]) / (s.x[lo] - s.x[lo - 1]);
          const d = Math.abs(sy(y) - py);
          if (d < nearest) { nearest = d; found = r.label; }
        }
      }
      this.readout.textContent = found ? ` · ${found}` : "";
      this.el.dataset.hover = found;
    }
  }

  fl.experiment = (box, src, project) => new Experiment(box, src, project);
})();
