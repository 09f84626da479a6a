// On a phone the header's menu is one row that scrolls sideways (style.css): bring the current page's
// link into view, so the reader sees where they are rather than the first links only.
"use strict";
(function () {
  var nav = document.querySelector(".top nav");
  var here = nav && nav.querySelector("a[aria-current]");
  if (!here || nav.scrollWidth <= nav.clientWidth) { return; }
  nav.scrollLeft = here.offsetLeft - nav.offsetLeft - (nav.clientWidth - here.offsetWidth) / 2;
}());
