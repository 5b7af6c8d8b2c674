package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// patientCompartment reads the R4 Patient CompartmentDefinition and returns, for each
// resource type in the compartment, the search parameters that link it to the patient.
// Types the definition lists without parameters are not in the compartment and are left out.
func patientCompartment(dir string) (map[string][]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "compartmentdefinition-patient.json"))
	if err != nil {
		return nil, err
	}
	var def struct {
		Code     string `json:"code"`
		Resource []struct {
			Code  string   `json:"code"`
			Param []string `json:"param"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(data, &def); err != nil {
		return nil, fmt.Errorf("compartmentdefinition-patient.json: %w", err)
	}
	if def.Code != "Patient" {
		return nil, fmt.Errorf("compartmentdefinition-patient.json: compartment %q, want Patient", def.Code)
	}
	out := map[string][]string{}
	for _, r := range def.Resource {
		if len(r.Param) > 0 {
			out[r.Code] = r.Param
		}
	}
	return out, nil
}
