// The /wechat/subscribe page: configure WeChat's JS-SDK with the signed config the server put
// in data-config, then let the wx-open-subscribe button ask for the templates. The vendored
// SDK (weixin-js-sdk from npm) assigns module.exports, so `module` is defined before loading it.
(function () {
  "use strict";
  const main = document.getElementById("subscribe");
  const state = document.getElementById("state");
  const zh = document.documentElement.lang.startsWith("zh");
  if (!main || !main.dataset.config || !/MicroMessenger/i.test(navigator.userAgent)) return;
  const config = JSON.parse(main.dataset.config);
  window.module = window.module || { exports: {} };
  const sdk = document.createElement("script");
  sdk.src = "/static/vendor/jweixin.js";
  sdk.onload = function () {
    const wx = window.wx || window.module.exports;
    wx.config(Object.assign({ debug: false }, config));
    wx.ready(function () { state.textContent = zh ? "点上面的按钮，选择要接收的通知。" : "Tap the button and choose the notices."; });
    wx.error(function () { state.textContent = zh ? "暂时无法开启，请稍后再试。" : "Not available right now; please try later."; });
  };
  document.head.appendChild(sdk);
  const button = document.getElementById("subscribe-button");
  button.addEventListener("success", function (event) {
    let accepted = 0;
    try {
      const details = JSON.parse(event.detail.subscribeDetails);
      accepted = Object.values(details).filter(function (d) {
        return JSON.parse(d).status === "accept";
      }).length;
    } catch (e) { accepted = 0; }
    state.textContent = accepted
      ? (zh ? "已开启，谢谢！可以回到对话了。" : "Done, thank you! You can go back to the chat.")
      : (zh ? "没有开启通知。随时可以再来。" : "No notices allowed. You can come back any time.");
  });
  button.addEventListener("error", function () {
    state.textContent = zh ? "暂时无法开启，请稍后再试。" : "Not available right now; please try later.";
  });
})();
