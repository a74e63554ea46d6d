/* Suggest as you type: turns the search box into a WAI-ARIA 1.2 combobox
 * (list autocomplete, manual selection) fed by /api/suggest.
 * Without this file the box is a plain search field that submits as before. */
(function () {
  "use strict";

  var DELAY_MS = 150; // wait for a pause in typing before asking the server

  function setUp(input, number) {
    var form = input.form;
    var endpoint = form.getAttribute("data-suggest");
    if (!endpoint) {
      return;
    }
    var listId = "q-suggestions-" + number;
    var list = document.createElement("ul");
    list.id = listId;
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Suggestions");
    list.hidden = true;
    var status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    input.parentNode.appendChild(list);
    input.parentNode.appendChild(status);
    input.parentNode.classList.add("has-suggestions");

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);

    var options = [];
    var active = -1;
    var timer = null;
    var asked = 0; // only the answer to the latest question is shown

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function show(values) {
      list.textContent = "";
      options = values.map(function (value, i) {
        var option = document.createElement("li");
        option.id = listId + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = value;
        option.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep focus in the box
        });
        option.addEventListener("click", function () {
          pick(value);
        });
        list.appendChild(option);
        return option;
      });
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (options.length) {
        list.hidden = false;
        input.setAttribute("aria-expanded", "true");
        status.textContent = options.length + (options.length === 1 ? " suggestion" : " suggestions");
      } else {
        close();
        status.textContent = "";
      }
    }

    function move(to) {
      if (active >= 0) {
        options[active].setAttribute("aria-selected", "false");
      }
      active = to;
      if (active < 0) {
        input.removeAttribute("aria-activedescendant");
        return;
      }
      var option = options[active];
      option.setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({block: "nearest"});
    }

    function pick(value) {
      input.value = value;
      close();
      if (form.requestSubmit) {
        form.requestSubmit();
      } else {
        form.submit();
      }
    }

    function ask() {
      var text = input.value;
      var question = ++asked;
      if (!text.trim()) {
        show([]);
        return;
      }
      fetch(endpoint + "?q=" + encodeURIComponent(text), {headers: {Accept: "application/x-suggestions+json"}})
        .then(function (response) { return response.ok ? response.json() : ["", []]; })
        .then(function (data) {
          if (question === asked && document.activeElement === input) {
            show(Array.isArray(data[1]) ? data[1].slice(0, 10) : []);
          }
        })
        .catch(function () { /* no suggestions is fine: the box still searches */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY_MS);
    });

    input.addEventListener("keydown", function (event) {
      var open = !list.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!options.length) {
          return;
        }
        event.preventDefault();
        if (!open) {
          list.hidden = false;
          input.setAttribute("aria-expanded", "true");
        }
        var last = options.length - 1;
        if (event.key === "ArrowDown") {
          move(active >= last ? 0 : active + 1);
        } else {
          move(active <= 0 ? last : active - 1);
        }
      } else if (event.key === "Enter") {
        if (open && active >= 0) {
          event.preventDefault();
          pick(options[active].textContent);
        } else {
          clearTimeout(timer);
          asked++; // a late answer must not reopen the list as the page goes
          close();
        }
      } else if (event.key === "Escape") {
        if (open) {
          event.preventDefault(); // close the list, keep what is typed
          close();
        }
      }
    });

    input.addEventListener("blur", function () {
      clearTimeout(timer);
      close();
    });
  }

  var boxes = document.querySelectorAll("form[role=search] input[name=q]");
  for (var i = 0; i < boxes.length; i++) {
    setUp(boxes[i], i);
  }
})();
