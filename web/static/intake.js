// Staff "New request" page: find the caller while typing, and show the category the classifier suggests.
(function () {
  "use strict";
  var form = document.getElementById("intake-form");
  if (!form) return;
  function debounce(fn, ms) { var t; return function () { clearTimeout(t); t = setTimeout(fn, ms); }; }
  function getJSON(url, done) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; }).then(function (data) { if (data) done(data); })
      .catch(function () {});
  }
  var search = document.getElementById("contact-search"), list = document.getElementById("contact-suggestions");
  function choose(c) {
    document.getElementById("contact_id").value = c.id;
    document.getElementById("name").value = c.name;
    document.getElementById("phone").value = c.phone;
    document.getElementById("email").value = c.email;
    document.getElementById("contact-chosen").textContent = c.name + " · " + [c.phone, c.email].filter(Boolean).join(" · ");
    list.innerHTML = "";
  }
  var lookUp = debounce(function () {
    var q = search.value.trim();
    document.getElementById("contact_id").value = "";
    if (q.length < 3) { list.innerHTML = ""; return; }
    getJSON(form.dataset.contactsUrl + "?q=" + encodeURIComponent(q), function (found) {
      list.innerHTML = "";
      found.forEach(function (c) {
        var li = document.createElement("li"), btn = document.createElement("button");
        btn.type = "button"; btn.className = "suggestion";
        btn.textContent = c.name + " · " + [c.phone, c.email].filter(Boolean).join(" · ");
        btn.addEventListener("click", function () { choose(c); });
        li.appendChild(btn); list.appendChild(li);
      });
      if (!found.length && /\d{6,}/.test(q.replace(/\D/g, ""))) document.getElementById("phone").value = q;
      if (!found.length && q.indexOf("@") > 0) document.getElementById("email").value = q;
    });
  }, 250);
  search.addEventListener("input", lookUp);
  var subject = document.getElementById("subject"), body = document.getElementById("body");
  var suggest = debounce(function () {
    var url = form.dataset.classifyUrl + "?subject=" + encodeURIComponent(subject.value) + "&body=" + encodeURIComponent(body.value.slice(0, 2000));
    getJSON(url, function (v) { document.getElementById("category-label").textContent = v.category ? v.label : "—"; });
  }, 300);
  subject.addEventListener("input", suggest); body.addEventListener("input", suggest);
  // What was typed before this script ran (a slow page, or the browser restoring the form) is looked up too.
  if (search.value.trim()) lookUp();
  if (subject.value || body.value) suggest();
})();
