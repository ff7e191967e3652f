/* negrec: the widget manager (@jupyter-widgets/html-manager) typesets widget labels with the
   MathJax 2 call MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3,
   which has no Hub, so every widget page logged "Cannot read properties of undefined (reading
   'Queue')". This keeps a small Hub on whatever window.MathJax becomes (MathJax 3 replaces the
   configuration object with its own when it loads) and maps the call onto typesetPromise. */
(function () {
  "use strict";
  var hub = {
    Queue: function (job) {
      var mj = window.MathJax;
      var element = job && job[2];
      if (mj && typeof mj.typesetPromise === "function" && element) {
        mj.typesetPromise([element]).catch(function () {});
      }
    }
  };
  function withHub(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      Object.defineProperty(mj, "Hub", {value: hub, enumerable: false, configurable: true,
                                        writable: true});
    }
    return mj;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); }
  });
})();
