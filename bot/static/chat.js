// The web chat: sends one turn at a time to /chat/api and shows the replies as text.
// Nothing from the server is inserted as HTML. The transcript is kept in localStorage so a
// reload shows it again; the conversation itself lives on the server.
(() => {
  const chat = document.getElementById("chat");
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const KEY = "tp-transcript";
  const KEEP = 100;
  let transcript = [];
  try { transcript = JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (_) { transcript = []; }

  function save(entry) {
    transcript.push(entry);
    transcript = transcript.slice(-KEEP);
    try { localStorage.setItem(KEY, JSON.stringify(transcript)); } catch (_) { /* private mode */ }
  }

  function bubble(who, text) {
    const item = document.createElement("li");
    item.className = "msg " + who;
    const body = document.createElement("div");
    body.className = "bubble";
    body.textContent = text;
    item.appendChild(body);
    log.appendChild(item);
    return item;
  }

  function certificate(item, cert) {
    const box = document.createElement("div");
    box.className = "certificate";
    const img = document.createElement("img");
    img.src = cert.image;
    img.alt = chat.dataset.certificate + " " + cert.serial;
    const download = document.createElement("a");
    download.href = cert.download;
    download.textContent = chat.dataset.download;
    const verify = document.createElement("a");
    verify.href = cert.verify;
    verify.textContent = chat.dataset.verify;
    box.append(img, download, verify);
    item.appendChild(box);
  }

  function disableOldButtons() {
    log.querySelectorAll(".buttons button").forEach((b) => { b.disabled = true; });
  }

  function show(message, live) {
    const item = bubble("bot", message.text);
    if (message.certificate) certificate(item, message.certificate);
    if (live && message.buttons && message.buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      message.buttons.forEach((button) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = button.label;
        b.dataset.choice = button.id;
        b.addEventListener("click", () => send({ choice: button.id }, button.label));
        row.appendChild(b);
      });
      item.appendChild(row);
    }
  }

  async function send(body, echo) {
    if (echo) { bubble("me", echo); save({ who: "me", text: echo }); }
    disableOldButtons();
    body.message_id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now() + Math.random());
    let data;
    try {
      const response = await fetch("/chat/api", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(body),
      });
      data = await response.json();
    } catch (_) {
      data = { messages: [{ text: chat.dataset.offline, buttons: [] }] };
    }
    const messages = data.messages || [{ text: data.error || chat.dataset.offline, buttons: [] }];
    messages.forEach((m, i) => {
      show(m, i === messages.length - 1);
      save({ who: "bot", text: m.text, certificate: m.certificate || null });
    });
    chat.scrollTop = chat.scrollHeight;
  }

  transcript.forEach((entry) => {
    if (entry.who === "me") bubble("me", entry.text);
    else show(entry, false);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ text }, text);
  });
  send({ text: "/resume" }, null);
})();
