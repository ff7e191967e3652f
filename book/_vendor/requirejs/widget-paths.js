// negrec: tell RequireJS where the widget bundle lives, so the Font Awesome files that
// html-manager's embed-amd.js loads relative to its own module resolve inside the book
// (_static/html-manager/*.woff2) instead of next to each page. Loaded after require.js and
// before embed-amd.js (see nb_ipywidgets_js in _config.yml).
(function () {
  var src = document.currentScript && document.currentScript.src;
  if (!src || typeof require === "undefined") { return; }
  var staticRoot = src.slice(0, src.lastIndexOf("/requirejs/") + 1);   // .../_static/
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": staticRoot + "html-manager" } });
})();
