/*
 * Plainsight widget: a small chat with cited sources, added to any page by one tag:
 *
 *   <script src="https://YOUR-API/widget.js" async></script>
 *
 * Optional attributes: data-title="..." (panel heading), data-town="Norwalk" (prefer that town's
 * documents), data-open="true" (start open), data-api="https://..." (API base; default: where this
 * script came from). The page's origin must be in PLAINSIGHT_CORS_ORIGINS.
 *
 * Safety: everything that comes from the API is put on the page with textContent, never as HTML,
 * and a link (a source's document view on the Plainsight app, its original) is shown only when it
 * is an http(s) address. Nothing is stored in the browser.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__plainsightWidget) return;
  window.__plainsightWidget = true;

  var api = (script.getAttribute("data-api") || script.src.replace(/\/widget\.js(?:[?#].*)?$/, "")).replace(/\/+$/, "");
  var heading = script.getAttribute("data-title") || "Ask about police surveillance";
  var town = script.getAttribute("data-town") || null;
  var startOpen = script.getAttribute("data-open") === "true";
  var history = [];

  var CSS = [
    ":host{all:initial}",
    ".ps{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24}",
    ".launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:22px;",
    "padding:10px 16px;background:#1f4e79;color:#fff;font:inherit;font-weight:600;cursor:pointer;",
    "box-shadow:0 2px 8px rgba(0,0,0,.25)}",
    ".panel{position:fixed;right:20px;bottom:72px;z-index:2147483000;width:min(380px,calc(100vw - 40px));",
    "max-height:min(600px,calc(100vh - 100px));display:flex;flex-direction:column;background:#fff;",
    "border:1px solid #c9d1d9;border-radius:10px;box-shadow:0 4px 18px rgba(0,0,0,.2);overflow:hidden}",
    ".panel[hidden]{display:none}",
    ".head{display:flex;align-items:center;justify-content:space-between;padding:10px 12px;background:#1f4e79;color:#fff}",
    ".head h2{font-size:15px;margin:0}.close{background:none;border:0;color:#fff;font-size:18px;cursor:pointer}",
    ".log{flex:1;overflow-y:auto;padding:10px 12px}",
    ".q{margin:8px 0 4px;font-weight:600}",
    ".a{margin:0 0 6px;white-space:pre-wrap}.a.refused{color:#57606a}",
    ".st{margin:0;font-size:12px;color:#57606a}.sides{display:flex;gap:8px;flex-wrap:wrap}",
    ".side{flex:1 1 45%;min-width:140px}",
    ".error{color:#b42318}",
    ".sources{margin:0 0 12px;padding-left:0;list-style:none}",
    ".src{border-left:3px solid #1f4e79;padding:4px 8px;margin:6px 0;background:#f6f8fa}",
    ".src .t{font-weight:600}.src .m{color:#57606a;font-size:12px}",
    ".src blockquote{margin:4px 0;font-size:13px;white-space:pre-wrap}",
    ".src .links{display:flex;gap:12px;flex-wrap:wrap}.src a{color:#1f4e79;font-size:12px}",
    "form{display:flex;gap:6px;padding:10px 12px;border-top:1px solid #d0d7de}",
    "input{flex:1;font:inherit;padding:6px 8px;border:1px solid #8c959f;border-radius:6px}",
    "button.ask{font:inherit;padding:6px 12px;border:0;border-radius:6px;background:#1f4e79;color:#fff;cursor:pointer}",
    "button.ask:disabled{opacity:.6;cursor:default}",
    ".note{font-size:11px;color:#57606a;padding:0 12px 8px}"
  ].join("");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(value) {
    try {
      var url = new URL(String(value));
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function build() {
    var host = el("div");
    host.id = "plainsight-widget";
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("style");
    style.textContent = CSS;
    var wrap = el("div", "ps");
    var launch = el("button", "launch", "Ask Plainsight");
    launch.type = "button";
    launch.setAttribute("aria-expanded", "false");
    var panel = el("section", "panel");
    panel.hidden = true;
    panel.setAttribute("aria-label", heading);
    var head = el("div", "head");
    var close = el("button", "close", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    head.appendChild(el("h2", "", heading));
    head.appendChild(close);
    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    var form = el("form");
    var input = el("input");
    input.type = "text";
    input.name = "question";
    input.maxLength = 1000;
    input.placeholder = "Does my town share plate data with ICE?";
    input.setAttribute("aria-label", "Your question");
    var submit = el("button", "ask", "Ask");
    submit.type = "submit";
    form.appendChild(input);
    form.appendChild(submit);
    var note = el("div", "note", "Answers quote the documents they cite. Questions are not stored.");
    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(form);
    panel.appendChild(note);
    wrap.appendChild(launch);
    wrap.appendChild(panel);
    root.appendChild(style);
    root.appendChild(wrap);
    document.body.appendChild(host);

    function toggle(open) {
      panel.hidden = !open;
      launch.setAttribute("aria-expanded", String(open));
      if (open) input.focus();
    }
    launch.addEventListener("click", function () { toggle(panel.hidden); });
    close.addEventListener("click", function () { toggle(false); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var question = input.value.trim();
      if (!question || submit.disabled) return;
      input.value = "";
      ask(question, log, submit);
    });
    if (startOpen) toggle(true);
  }

  function renderSides(sides) {
    var box = el("div", "sides");
    box.appendChild(el("div", "t", "The sources disagree"));
    sides.forEach(function (side) {
      var column = el("div", "side");
      var marks = side.citations.map(function (n) { return "[" + n + "]"; }).join(" ");
      column.appendChild(el("div", "m", side.label + " \u00b7 " + side.kind + " " + marks));
      column.appendChild(el("blockquote", "", side.text));
      box.appendChild(column);
    });
    return box;
  }

  // A link only to an http(s) address: the document view on the Plainsight host, or the original.
  function addLink(parent, value, text, cls) {
    var href = safeUrl(value);
    if (!href) return;
    var link = el("a", cls, text);
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    parent.appendChild(link);
  }

  function renderSources(citations) {
    var list = el("ol", "sources");
    citations.forEach(function (c) {
      var item = el("li", "src");
      item.appendChild(el("div", "t", "[" + c.n + "] " + (c.title || c.doc_id || "Source")));
      var meta = [c.kind, c.publisher, c.published, c.jurisdiction, c.page ? "page " + c.page : ""].filter(Boolean);
      if (meta.length) item.appendChild(el("div", "m", meta.join(" \u00b7 ")));
      if (c.quote) item.appendChild(el("blockquote", "", c.quote));
      var links = el("div", "links");
      addLink(links, c.view_url, "Show where it says this", "view");
      addLink(links, c.source_url, "Open the original", "original");
      if (links.childNodes.length) item.appendChild(links);
      list.appendChild(item);
    });
    return list;
  }

  function readEvents(response, on) {
    var decoder = new TextDecoder();
    var buffer = "";
    function feed(text) {
      buffer += text;
      var blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        var name = "message";
        var data = [];
        block.split(/\r?\n/).forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (data.length && on[name]) on[name](JSON.parse(data.join("\n")));
      });
    }
    if (!response.body || !response.body.getReader) {
      return response.text().then(function (text) { feed(text + "\n\n"); });
    }
    var reader = response.body.getReader();
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) { feed(decoder.decode() + "\n\n"); return; }
        feed(decoder.decode(chunk.value, { stream: true }));
        return pump();
      });
    }
    return pump();
  }

  function failure(response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      if (response.status === 429) throw new Error("Too many questions at once. Please wait a minute and try again.");
      var detail = typeof body.detail === "string" ? body.detail : "";
      throw new Error("The service could not answer" + (detail ? ": " + detail : " (" + response.status + ")."));
    });
  }

  function ask(question, log, submit) {
    log.appendChild(el("p", "q", question));
    var answer = el("p", "a", "\u2026");
    log.appendChild(answer);
    log.scrollTop = log.scrollHeight;
    submit.disabled = true;
    var started = false;
    var final = null;
    fetch(api + "/v1/ask/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "omit",
      body: JSON.stringify({ question: question, history: history.slice(-6), town: town })
    }).then(function (response) {
      if (!response.ok) return failure(response);
      return readEvents(response, {
        token: function (data) {
          if (!started) { answer.textContent = ""; started = true; }
          answer.textContent += data.text;
        },
        answer: function (data) {
          final = data;
          answer.textContent = data.text;
          if (data.refused) answer.className = "a refused";
          if (data.status_text) answer.parentNode.insertBefore(el("p", "st", data.status_text), answer);
          var after = answer;
          if (data.sides && data.sides.length) {
            after = renderSides(data.sides);
            answer.parentNode.insertBefore(after, answer.nextSibling);
          }
          if (data.citations && data.citations.length) {
            answer.parentNode.insertBefore(renderSources(data.citations), after.nextSibling);
          }
        },
        error: function (data) { throw new Error(data.message || "The answer failed."); }
      });
    }).then(function () {
      if (!final) throw new Error("The answer was cut off. Please try again.");
      history.push({ role: "user", content: question }, { role: "assistant", content: final.text });
    }).catch(function (error) {
      answer.className = "a error";
      answer.textContent = error instanceof TypeError
        ? "Could not reach the answering service."
        : error.message;
    }).then(function () {
      submit.disabled = false;
      log.scrollTop = log.scrollHeight;
    });
  }

  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
