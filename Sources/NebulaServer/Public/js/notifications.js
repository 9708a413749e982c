// The add-channel form: show only the fields the chosen kind uses. Without this script every
// field stays visible, each labelled with the kinds it applies to.
const form = document.querySelector(".notification-channel-form");
if (form) {
  const kind = form.querySelector("select[name=kind]");
  const update = () => {
    for (const field of form.querySelectorAll("[data-kinds]")) {
      const wanted = field.dataset.kinds.split(" ").includes(kind.value);
      field.hidden = !wanted;
      for (const input of field.querySelectorAll("input, select")) input.disabled = !wanted;
    }
  };
  kind.addEventListener("change", update);
  update();
}
