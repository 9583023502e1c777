// Plots with uPlot (served from node_modules at /vendor/uplot/).
import uPlot from '/vendor/uplot/uPlot.esm.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

/**
 * A line plot of several series over one x axis. Returns {el, update(x, ys)}; the element carries
 * data-points (how many x values it shows), which the browser test reads.
 */
export function linePlot({ title, xLabel, yLabel, names, logX = false, logY = false, integerX = false, width = 520, height = 260 }) {
  const el = document.createElement('div');
  el.className = 'plot card';
  el.dataset.points = '0';
  const opts = {
    title,
    width,
    height,
    scales: { x: { time: false, distr: logX ? 3 : 1 }, y: { distr: logY ? 3 : 1 } },
    // integer x (epochs, k): ticks at whole numbers only
    axes: [{ label: xLabel, ...(integerX ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] } : {}) }, { label: yLabel }],
    series: [{ label: xLabel }, ...names.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 5 } }))],
  };
  const plot = new uPlot(opts, [[], ...names.map(() => [])], el);
  return {
    el,
    update(x, ys) {
      plot.setData([x, ...ys]);
      el.dataset.points = String(x.length);
    },
  };
}
