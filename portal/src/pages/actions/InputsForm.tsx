// The run form generated from the Action's JSON Schema (react-jsonschema-form). Loaded lazily:
// it is the biggest piece of the action pages and only this page needs it.
// The Form component itself, not the package index: the index also re-exports a test helper that
// imports @rjsf/validator-ajv8, which we do not ship (AJV needs eval; see lib/schemaValidator).
import Form from "@rjsf/core/lib/components/Form.js";
import type { RJSFSchema, UiSchema } from "@rjsf/utils";
import { schemaValidator } from "../../lib/schemaValidator";

export interface InputsFormProps {
  schema: RJSFSchema;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  onSubmit: (value: Record<string, unknown>) => void;
  disabled: boolean;
  submitLabel: string;
  children?: React.ReactNode;
}

/** rjsf shows each field's description; the schema's own title and description are shown by the page. */
export function uiSchemaFor(schema: RJSFSchema): UiSchema {
  const ui: UiSchema = { "ui:title": "", "ui:description": "" };
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    // A secret typed into the form is not echoed on screen.
    if (typeof prop === "object" && prop && (prop as { writeOnly?: boolean }).writeOnly) ui[key] = { "ui:widget": "password" };
  }
  return ui;
}

export default function InputsForm({ schema, value, onChange, onSubmit, disabled, submitLabel, children }: InputsFormProps) {
  return (
    <Form
      className="rjsf run-form"
      schema={schema}
      uiSchema={uiSchemaFor(schema)}
      validator={schemaValidator}
      formData={value}
      disabled={disabled}
      showErrorList="top"
      noHtml5Validate
      liveValidate={false}
      onChange={(e) => onChange((e.formData ?? {}) as Record<string, unknown>)}
      onSubmit={(e) => onSubmit((e.formData ?? {}) as Record<string, unknown>)}
      // The errors are shown at the fields and in the list above them; without a handler rjsf
      // would also log them as a console error.
      onError={() => {}}
      focusOnFirstError
    >
      {children}
      <div className="form-buttons">
        <button type="submit" className="primary" disabled={disabled}>
          {submitLabel}
        </button>
      </div>
    </Form>
  );
}
