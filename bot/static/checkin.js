// Check-in at the gate: read the volunteer's QR code with the camera (BarcodeDetector where the
// browser has it, else the vendored jsQR), or take a typed code; post it and show the answer.
(() => {
  const form = document.getElementById("typed");
  const code = document.getElementById("code");
  const result = document.getElementById("result");
  const video = document.getElementById("reader");
  const camera = document.getElementById("camera");
  if (!form) return;
  const csrf = form.querySelector("input[name=csrf]").value;
  let last = "";
  let lastAt = 0;

  async function submit(value) {
    const body = new URLSearchParams({ csrf: csrf, code: value });
    try {
      const response = await fetch(form.action, {
        method: "POST", body: body,
        headers: { "X-CSRF-Token": csrf, "X-Checkin": "1" },
      });
      result.innerHTML = "";
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();  // our own escaped template
      const line = holder.querySelector("#checkin-line");
      if (line) result.appendChild(line);
      code.value = "";  // ready for the next volunteer; the answer names this one
      code.focus();
    } catch (_) {
      result.textContent = "…";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (code.value.trim()) submit(code.value.trim());
  });

  async function decoder() {
    if ("BarcodeDetector" in window) {
      try {
        const detector = new BarcodeDetector({ formats: ["qr_code"] });
        return async (source) => (await detector.detect(source)).map((c) => c.rawValue)[0];
      } catch (_) { /* fall back to jsQR */ }
    }
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async (source) => {
      canvas.width = source.videoWidth;
      canvas.height = source.videoHeight;
      if (!canvas.width) return undefined;
      context.drawImage(source, 0, 0);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR && window.jsQR(image.data, image.width, image.height);
      return found ? found.data : undefined;
    };
  }

  camera.addEventListener("click", async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(
        { video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
    } catch (_) {
      camera.disabled = true;
      return;
    }
    const read = await decoder();
    async function scan() {
      const value = (await read(video)) || "";
      const now = Date.now();
      if (value && (value !== last || now - lastAt > 5000)) {  // one answer per code a while
        last = value;
        lastAt = now;
        code.value = value;
        submit(value.trim());
      }
      setTimeout(scan, 250);
    }
    scan();
  });
})();
