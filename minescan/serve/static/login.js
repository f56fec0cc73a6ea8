"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  try {
    await minescan.post("/admin/api/login", {user: form.user.value, password: form.password.value});
    window.location.assign("/admin");
  } catch (error) {
    document.getElementById("login-error").textContent = error.message;
  }
});
