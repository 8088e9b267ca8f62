// akin's only script: copy buttons, times in the browser's zone, expiry inputs in that zone.
// Everything works without it.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy-button");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  input.select();
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 2000); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});

// Times: the page writes them in UTC (`<time datetime title>`); shown here in the browser's
// zone, with the UTC time kept in the title for hovering.
const shownTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});
for (const t of document.querySelectorAll("time[datetime]")) {
  const when = new Date(t.dateTime);
  if (!Number.isNaN(when.getTime())) t.textContent = shownTime.format(when);
}

// Expiry inputs: entered in the browser's zone, which their label then names. A value the
// server wrote (UTC, the offset field empty) is shown in that zone; the form sends the
// zone's offset at the entered time (daylight saving included) for the server to convert.
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
const pad = (n) => String(n).padStart(2, "0");
for (const input of document.querySelectorAll("input[type=datetime-local][data-offset-field]")) {
  const offset = document.getElementById(input.dataset.offsetField);
  if (!offset) continue;
  const zoneLabel = document.querySelector(`label[for="${input.id}"] .zone`);
  if (zoneLabel) zoneLabel.textContent = `your time, ${zone}`;
  if (input.value && offset.value === "") {
    const utc = new Date(`${input.value}Z`);
    if (!Number.isNaN(utc.getTime())) {
      input.value = `${utc.getFullYear()}-${pad(utc.getMonth() + 1)}-${pad(utc.getDate())}T${pad(utc.getHours())}:${pad(utc.getMinutes())}`;
    }
  }
  input.form?.addEventListener("submit", () => {
    const local = new Date(input.value);
    offset.value = input.value && !Number.isNaN(local.getTime()) ? String(-local.getTimezoneOffset()) : "";
  });
}
