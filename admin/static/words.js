// The page's words for its scripts, in the reader's language (admin/templates/js_words.html):
// ivrWords("Open case {id}", {id: 7}). A word not in the list is shown as written.
window.ivrWords = (function () {
  var words = {};
  try { words = JSON.parse(document.getElementById("ui-words").textContent); } catch (e) { words = {}; }
  return function (text, fields) {
    var out = Object.prototype.hasOwnProperty.call(words, text) ? words[text] : text;
    Object.keys(fields || {}).forEach(function (k) { out = out.split("{" + k + "}").join(String(fields[k])); });
    return out;
  };
})();
