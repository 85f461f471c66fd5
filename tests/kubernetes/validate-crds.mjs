// Validates Prometheus Operator objects (ServiceMonitor, PrometheusRule) against the operator's
// schemas from @kubernetes-models/prometheus-operator. Reads a JSON array of objects on stdin;
// prints one line per invalid object and exits 1 when any is invalid, 2 on an unknown kind.
import { readFileSync } from "node:fs";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const models = { PrometheusRule, ServiceMonitor };
const objects = JSON.parse(readFileSync(0, "utf8"));
let status = 0;
for (const object of objects) {
  const Model = models[object.kind];
  const name = `${object.kind}/${object.metadata?.name}`;
  if (Model === undefined) {
    console.log(`${name}: no schema for this kind`);
    process.exit(2);
  }
  try {
    new Model(object).validate();
  } catch (error) {
    console.log(`${name}: ${error.message}`);
    status = 1;
  }
}
process.exit(status);
