// Nebula Command — file browser uploads: PUT the chosen file to the API as the request body
// (streamed by the server to the node in 1 MiB chunks), with a progress bar, then reload.

for (const form of document.querySelectorAll("form[data-upload-form]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return;
    const { server, root, path, csrf } = form.dataset;
    const target = path ? `${path}/${file.name}` : file.name;
    const overwrite = form.querySelector("input[name=overwrite]").checked;
    const query = new URLSearchParams({ root, path: target, overwrite: String(overwrite) });
    const progress = form.querySelector("[data-upload-progress]");
    const button = form.querySelector("button[type=submit]");
    progress.hidden = false;
    button.disabled = true;

    const request = new XMLHttpRequest();
    request.open("PUT", `/api/v1/servers/${encodeURIComponent(server)}/files/upload?${query}`);
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress.value = e.loaded / e.total;
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        location.reload();
        return;
      }
      let message = `Upload failed (HTTP ${request.status}).`;
      try {
        message = JSON.parse(request.responseText).error.message;
      } catch (error) {
        // not JSON: keep the status line
      }
      showError(form, message);
      button.disabled = false;
      progress.hidden = true;
    });
    request.addEventListener("error", () => {
      showError(form, "Upload failed: the connection broke.");
      button.disabled = false;
      progress.hidden = true;
    });
    request.send(file);
  });
}

function showError(form, message) {
  let box = form.querySelector(".flash-error");
  if (!box) {
    box = document.createElement("p");
    box.className = "flash flash-error";
    box.setAttribute("role", "alert");
    form.prepend(box);
  }
  box.textContent = message;
}
