// The pay page: inside WeChat it calls WeixinJSBridge with the signed order; anywhere it asks
// the server every few seconds whether the order is paid, and says so when it is.
(() => {
  const box = document.getElementById("pay");
  const state = document.getElementById("state");
  const button = document.getElementById("wxpay");
  if (!box || box.dataset.status !== "open") return;

  function pay() {
    const params = JSON.parse(box.dataset.jsapi);
    if (typeof WeixinJSBridge === "undefined") return;  // not inside WeChat
    WeixinJSBridge.invoke("getBrandWCPayRequest", params, () => poll());
  }
  if (button) {
    button.addEventListener("click", pay);
    document.addEventListener("WeixinJSBridgeReady", pay, false);
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.poll, { cache: "no-store" });
      const data = await response.json();
      if (data.status === "paid") {
        state.textContent = "✅ " + box.dataset.paid;
        state.className = "valid";
        document.querySelectorAll(".qr, #wxpay").forEach((e) => e.remove());
        return;
      }
      if (data.status !== "open") { state.textContent = box.dataset.closed; return; }
    } catch (_) { /* offline for a moment: ask again */ }
    setTimeout(poll, 3000);
  }
  setTimeout(poll, 3000);
})();
