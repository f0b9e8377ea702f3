// The web chat: sends one turn at a time to /chat/api and shows the replies as text.
// Nothing from the server is inserted as HTML. The transcript (with the last question's
// buttons) is kept in localStorage, so a reload shows it again and carries on; the
// conversation itself lives on the server. The page follows the conversation's language.
// When the bot confirms /forget, the transcript kept here goes too.
(() => {
  const chat = document.getElementById("chat");
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const sendButton = form.querySelector("button");
  const photoBar = document.getElementById("photo-bar");
  const caption = document.getElementById("caption");
  const UI = JSON.parse(chat.dataset.ui);
  const KEY = "tp-transcript";
  const LANG_KEY = "tp-lang";
  const KEEP = 100;
  let locale = chat.dataset.locale;
  let transcript = [];
  try { transcript = JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (_) { transcript = []; }

  function text(key) { return (UI[locale] || UI.zh)[key]; }

  function remember(key, value) {
    try { localStorage.setItem(key, value); } catch (_) { /* private mode */ }
  }

  function save(entry) {
    transcript.push(entry);
    transcript = transcript.slice(-KEEP);
    remember(KEY, JSON.stringify(transcript));
  }

  function scrollDown() { chat.scrollTop = chat.scrollHeight; }

  function forget() {  // nothing of the conversation stays in this browser
    transcript = [];
    try { localStorage.removeItem(KEY); } catch (_) { /* private mode */ }
  }

  // The page's own words in the conversation's language (after /lang, say).
  function useLanguage(next) {
    if (!next || !UI[next]) return;
    locale = next;
    remember(LANG_KEY, next);
    document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
    document.title = text("title");
    document.querySelectorAll(".bar-title").forEach((e) => { e.textContent = text("title"); });
    input.placeholder = text("placeholder");
    input.setAttribute("aria-label", text("placeholder"));
    sendButton.textContent = text("send");
    caption.placeholder = text("caption");
    caption.setAttribute("aria-label", text("caption"));
    document.getElementById("photo-send").textContent = text("send_photo");
    document.getElementById("photo-cancel").textContent = text("cancel_photo");
    log.querySelectorAll("a.download").forEach((a) => { a.textContent = text("download"); });
    log.querySelectorAll("a.share").forEach((a) => { a.textContent = text("share"); });
    log.querySelectorAll("a.verify").forEach((a) => {
      a.textContent = text("verify");
      a.href = a.href.replace(/lang=\w+/, "lang=" + next);
    });
  }

  function bubble(who, words) {
    const item = document.createElement("li");
    item.className = "msg " + who;
    const body = document.createElement("div");
    body.className = "bubble";
    linkify(body, words);
    item.appendChild(body);
    log.appendChild(item);
    return item;
  }

  // Text as text, with its http(s) addresses as links (a pay link, the donation page).
  const ADDRESS = /https?:\/\/[^\s<>"'，。；）)]+/g;
  function linkify(body, words) {
    let at = 0;
    for (const found of words.matchAll(ADDRESS)) {
      body.append(document.createTextNode(words.slice(at, found.index)));
      const a = link(found[0], "out", found[0]);
      a.target = "_blank";
      a.rel = "noopener";
      body.append(a);
      at = found.index + found[0].length;
    }
    body.append(document.createTextNode(words.slice(at)));
  }

  function link(href, cls, words) {
    const a = document.createElement("a");
    a.href = href;
    a.className = cls;
    a.textContent = words;
    return a;
  }

  function certificate(item, cert) {
    const box = document.createElement("div");
    box.className = "certificate";
    const links = document.createElement("div");
    links.className = "links";
    links.append(link(cert.download, "download", text("download")),
                 link(cert.verify, "verify", text("verify")));
    if (cert.share) links.append(link(cert.share, "share", text("share")));
    const img = document.createElement("img");
    img.alt = text("certificate") + " " + cert.serial;
    img.addEventListener("load", scrollDown);  // the image is tall: scroll once it has a size
    img.src = cert.image;
    box.append(links, img);
    item.appendChild(box);
  }

  function poster(item, shared) {  // the share poster: long-press to save or share it
    const box = document.createElement("div");
    box.className = "certificate poster";
    const links = document.createElement("div");
    links.className = "links";
    links.append(link(shared.download, "download", text("download")));
    const img = document.createElement("img");
    img.alt = text("poster");
    img.addEventListener("load", scrollDown);
    img.src = shared.image;
    box.append(links, img);
    item.appendChild(box);
  }

  function picture(item, source) {  // a check-in QR code to show at the gate, a base's picture
    const img = document.createElement("img");
    img.className = source.startsWith("data:image/png") ? "qr" : "photo";
    img.alt = "QR";
    img.src = source;
    item.appendChild(img);
  }

  function buttonsOf(item) { return item.querySelectorAll(".buttons button"); }

  function disableOldButtons() {
    log.querySelectorAll(".buttons button").forEach((b) => { b.disabled = true; });
  }

  function offer(item, buttons) {
    const row = document.createElement("div");
    row.className = "buttons";
    buttons.forEach((button) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = button.label;
      b.dataset.choice = button.id;
      b.addEventListener("click", () => send({ choice: button.id }, button.label));
      row.appendChild(b);
    });
    item.appendChild(row);
  }

  function show(message, live) {
    const item = bubble("bot", message.text);
    if (message.certificate) certificate(item, message.certificate);
    if (message.poster) poster(item, message.poster);
    if (message.image && /^data:image\/(png|jpeg);base64,/.test(message.image)) picture(item, message.image);
    if (live && message.buttons && message.buttons.length) offer(item, message.buttons);
    return item;
  }

  // A turn that did not go through: say so, give the last question's buttons back, and offer
  // to try the same turn again (same message id, so it never counts twice).
  function failed(words, again, asked) {
    const item = bubble("bot", words);
    item.classList.add("failed");
    if (asked) buttonsOf(asked).forEach((b) => { b.disabled = false; });
    if (!again) return;
    const row = document.createElement("div");
    row.className = "buttons";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = text("retry");
    retry.addEventListener("click", () => { item.remove(); again(); });
    row.appendChild(retry);
    item.appendChild(row);
  }

  function lastAsked() {
    const items = log.querySelectorAll(".msg.bot");
    for (let i = items.length - 1; i >= 0; i -= 1) {
      if (buttonsOf(items[i]).length && !items[i].classList.contains("failed")) return items[i];
    }
    return null;
  }

  async function send(body, echo, retried) {
    body.message_id = body.message_id
      || (crypto.randomUUID && crypto.randomUUID()) || String(Date.now() + Math.random());
    const request = {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    await turn("/chat/api", request, echo, () => send(body, null, retried || echo));
  }

  // A photo as evidence for a pledge (a phone's camera or gallery) with the caption typed
  // beside it; not retried by itself.
  async function sendPhoto(file, note) {
    const form = new FormData();
    form.append("photo", file);
    if (note) form.append("note", note);
    await turn("/chat/photo", { method: "POST", body: form }, "📷 " + (note || file.name), null);
  }

  // A photo picked waits in the bar above the composer, with a caption field, until sent
  // or put back; what was typed in the composer becomes its caption.
  let picked = null;
  function pick(file) {
    picked = file;
    caption.value = caption.value || input.value.trim();
    input.value = "";
    const preview = document.getElementById("photo-preview");
    preview.removeAttribute("src");
    if (file.size <= 8 * 1024 * 1024) {
      const reader = new FileReader();
      reader.onload = () => { if (picked === file) preview.src = reader.result; };
      reader.readAsDataURL(file);
    }
    photoBar.hidden = false;
    caption.focus();
  }
  function putBack() {
    picked = null;
    caption.value = "";
    photoBar.hidden = true;
  }
  document.getElementById("photo-send").addEventListener("click", () => {
    if (!picked) return;
    const file = picked;
    const note = caption.value.trim();
    putBack();
    sendPhoto(file, note);
  });
  document.getElementById("photo-cancel").addEventListener("click", putBack);
  caption.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); document.getElementById("photo-send").click(); }
  });

  async function turn(url, request, echo, again) {
    if (echo) { bubble("me", echo); save({ who: "me", text: echo }); }
    const asked = lastAsked();
    disableOldButtons();
    let response;
    let data;
    try {
      response = await fetch(url, Object.assign({ credentials: "same-origin" }, request));
      data = await response.json();
    } catch (_) {
      failed(text("offline"), again, asked);
      scrollDown();
      return;
    }
    if (response.status === 401 && !sessionStorage.getItem("tp-reloaded")) {
      sessionStorage.setItem("tp-reloaded", "1");  // the visitor cookie is gone: get one
      location.reload();
      return;
    }
    if (!response.ok) {  // refused (429: too fast) or a fault: nothing was done
      const said = data.error || (data.messages && data.messages[0] && data.messages[0].text);
      failed(said || text("offline"), again, asked);
      scrollDown();
      return;
    }
    sessionStorage.removeItem("tp-reloaded");
    useLanguage(data.locale);
    const messages = data.messages || [];
    messages.forEach((m, i) => {
      const last = i === messages.length - 1;
      show(m, last);
      save({ who: "bot", text: m.text, certificate: m.certificate || null,
             poster: m.poster || null, buttons: last ? m.buttons : [] });
    });
    if (messages.some((m) => m.forgotten)) forget();  // the bot deleted the data: so do we
    scrollDown();
  }

  useLanguage(localStorage.getItem(LANG_KEY) || locale);
  transcript.forEach((entry, i) => {
    if (entry.who === "me") bubble("me", entry.text);
    else show(entry, i === transcript.length - 1);  // the last question stays answerable
  });
  scrollDown();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const words = input.value.trim();
    if (!words) return;
    input.value = "";
    send({ text: words }, words);
  });
  const picker = document.getElementById("photo");
  picker.addEventListener("change", () => {
    if (picker.files && picker.files[0]) pick(picker.files[0]);
    picker.value = "";
  });
  const joining = new URLSearchParams(location.search).get("join");  // from a team's page
  if (joining && /^[A-Za-z0-9]{1,12}$/.test(joining)) {
    history.replaceState(null, "", location.pathname);  // once: a reload does not join again
    send({ text: "/join " + joining }, "/join " + joining);
  } else if (!transcript.length) {
    send({ text: "/resume" }, null);  // a first visit: the welcome
  }
})();
