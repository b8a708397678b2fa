// An external-task worker built on the official camunda-external-task-client-js, run by
// tests/test_external_task_clients.py against our /engine-rest.
//
// Environment: ENGINE_URL (…/engine-rest), AUTH ("basic:<user>:<password>" or "bearer:<token>"),
// EXPECT (how many tasks to handle before exiting). Each handled task is printed as one JSON line.
//
// charge_card follows the process variable "scenario": "pay" completes with typed variables,
// "fail" reports a failure with no retries left (an incident), "decline" throws the BPMN error
// card_declined that the diagram's boundary event catches. ship_order always completes.

import { BasicAuthInterceptor, Client, Variables } from "camunda-external-task-client-js";

const expected = Number(process.env.EXPECT || "1");
const [scheme, ...credentials] = (process.env.AUTH || "").split(":");
const interceptors =
  scheme === "basic"
    ? new BasicAuthInterceptor({ username: credentials[0], password: credentials.slice(1).join(":") })
    : (config) => ({ ...config, headers: { ...config.headers, Authorization: `Bearer ${credentials.join(":")}` } });

const client = new Client({
  baseUrl: process.env.ENGINE_URL,
  workerId: "js-worker",
  maxTasks: 10,
  lockDuration: 20000,
  asyncResponseTimeout: 2000,
  interval: 100,
  interceptors,
});

let handled = 0;
function report(task, action) {
  console.log(JSON.stringify({ id: task.id, topic: task.topicName, businessKey: task.businessKey, action }));
  handled += 1;
  if (handled >= expected) {
    client.stop();
    setTimeout(() => process.exit(0), 50);
  }
}

client.on("poll:error", (error) => console.error(`poll failed: ${error.message}`));
["complete", "handleFailure", "handleBpmnError"].forEach((event) =>
  client.on(`${event}:error`, (task, error) => console.error(`${event} of ${task.id} failed: ${error.message}`)),
);

client.subscribe("charge_card", async ({ task, taskService }) => {
  const scenario = task.variables.get("scenario");
  if (scenario === "fail") {
    await taskService.handleFailure(task, {
      errorMessage: "card processor unreachable",
      errorDetails: "ECONNREFUSED processor.example.com:443",
      retries: 0,
      retryTimeout: 0,
    });
    report(task, "failure");
  } else if (scenario === "decline") {
    const variables = new Variables().set("declineReason", "card reported stolen");
    await taskService.handleBpmnError(task, "card_declined", "Card declined", variables);
    report(task, "bpmnError");
  } else {
    const variables = new Variables()
      .set("charged", true)
      .set("chargedCents", task.variables.get("amount") * 100)
      .set("receipt", { number: `R-${task.businessKey}`, lines: [1, 2] })
      .set("chargedAt", new Date(Date.UTC(2026, 10, 23, 10, 0, 0)));
    await taskService.complete(task, variables);
    report(task, "complete");
  }
});

client.subscribe("ship_order", async ({ task, taskService }) => {
  await taskService.complete(task, new Variables().set("shippedBy", "js-worker"));
  report(task, "complete");
});

setTimeout(() => {
  console.error(`gave up after 60 s with ${handled} of ${expected} tasks handled`);
  process.exit(2);
}, 60000);
