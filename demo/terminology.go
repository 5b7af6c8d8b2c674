package demo

// This file holds the small curated code tables the generator draws from.
//
// Sources and notices:
//   - ICD-10-CM codes and descriptions are from the CDC/NCHS FY2019 code set
//     (public domain), checked against ../shared/data/nlp/icd10cm2019_codes.tsv.
//   - RxNorm codes and names: this product uses publicly available data
//     courtesy of the U.S. National Library of Medicine (NLM), National
//     Institutes of Health, Department of Health and Human Services; NLM is not
//     responsible for the product and does not endorse or recommend this or any
//     other product. Codes were checked against Synthea's medication modules
//     and NLM VSAC value-set listings.
//   - This material contains content from LOINC (http://loinc.org). LOINC is
//     copyright © Regenstrief Institute, Inc. and the Logical Observation
//     Identifiers Names and Codes (LOINC) Committee and is available at no cost
//     under the license at http://loinc.org/license. Only codes and their
//     unmodified long common names are used.
//   - SNOMED CT codes (a few dozen concept ids with their preferred terms) are
//     used as identifiers only, as in the HL7 FHIR examples and Synthea.
//   - CVX codes are published by the CDC (public domain).

// Code system URIs used in the generated resources.
const (
	sysSNOMED        = "http://snomed.info/sct"
	sysICD10CM       = "http://hl7.org/fhir/sid/icd-10-cm"
	sysLOINC         = "http://loinc.org"
	sysRxNorm        = "http://www.nlm.nih.gov/research/umls/rxnorm"
	sysCVX           = "http://hl7.org/fhir/sid/cvx"
	sysUCUM          = "http://unitsofmeasure.org"
	sysNPI           = "http://hl7.org/fhir/sid/us-npi"
	sysMRN           = "https://fhirgate.example.org/sid/mrn"
	sysOMB           = "urn:oid:2.16.840.1.113883.6.238"
	sysBCP47         = "urn:ietf:bcp:47"
	sysV2IDType      = "http://terminology.hl7.org/CodeSystem/v2-0203"
	sysV2Degree      = "http://terminology.hl7.org/CodeSystem/v2-0360/2.7"
	sysV2Relation    = "http://terminology.hl7.org/CodeSystem/v2-0131"
	sysV2PerfFunc    = "http://terminology.hl7.org/CodeSystem/v2-0443"
	sysActCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	sysActPriority   = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
	sysActSite       = "http://terminology.hl7.org/CodeSystem/v3-ActSite"
	sysMarital       = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	sysParticipation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	sysRoleCode      = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	sysRouteOfAdmin  = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
	sysGTS           = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
	sysInterp        = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	sysObsCategory   = "http://terminology.hl7.org/CodeSystem/observation-category"
	sysCondClinical  = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	sysCondVer       = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	sysCondCategory  = "http://terminology.hl7.org/CodeSystem/condition-category"
	sysAllergyClin   = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
	sysAllergyVer    = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
	sysMedReqCat     = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
	sysDoseRateType  = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
	sysOrgType       = "http://terminology.hl7.org/CodeSystem/organization-type"
	sysLocPhysical   = "http://terminology.hl7.org/CodeSystem/location-physical-type"
	sysAdmitSource   = "http://terminology.hl7.org/CodeSystem/admit-source"
	sysDischarge     = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
	sysDocCategory   = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
	sysFormatCode    = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"

	urlRace      = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
	urlEthnicity = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
	urlBirthSex  = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
	urlBirthTime = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
)

// coding is one FHIR Coding.
type coding struct {
	system, code, display string
}

func (c coding) json() object {
	return object{{"system", c.system}, {"code", c.code}, {"display", c.display}}
}

// concept returns a CodeableConcept holding the given codings and text.
func concept(text string, cs ...coding) object {
	list := make([]object, len(cs))
	for i, c := range cs {
		list[i] = c.json()
	}
	return object{{"coding", list}, {"text", text}}
}

// condition is one entry of the curated problem table. Chronic conditions are
// recorded on the problem list; acute ones are diagnosed at the encounter they
// cause. Text fields are note fragments in which {he}, {He}, {his}, {His},
// {him}, {days} (e.g. "3 days") and {meds} are replaced when a note is written.
type condition struct {
	key     string
	name    string // clinical name used in Condition.code.text and in notes
	snomed  coding
	icd10   coding
	chronic bool
	sex     string // "male" or "female" to restrict, "" for anyone
	minAge  int
	maxAge  int // 0 for no limit
	weight  int // relative prevalence in the population

	core     []string // chronic: first-line drugs, one of which is always prescribed when allowed
	drugs    []string // chronic: candidates, one or two are prescribed; acute: alternatives, one is prescribed
	altDrugs []string // acute: used instead of drugs when the patient is allergic to penicillins
	adjuncts []string // acute: always prescribed in addition
	labs     []string

	setting  []string // acute: encounter classes it presents in (AMB, EMER, IMP)
	fever    bool
	symptoms []string // positive symptoms, kept out of negated review of systems
	denies   []string // pertinent negatives

	complaint []string // acute: chief complaint variants
	hpi       []string // acute: presenting story; chronic: interval history sentences
	exam      []string
	assess    []string
	plan      []string
	course    string // hospital course for inpatient stays
	returnIf  []string
}

// conditions is the problem table. Codes: SNOMED CT concept id with its
// preferred term, ICD-10-CM code (dotted) with its FY2019 long description.
var conditions = []*condition{
	{
		key: "htn", name: "essential hypertension", chronic: true, minAge: 30, weight: 30,
		snomed: coding{sysSNOMED, "59621000", "Essential hypertension (disorder)"},
		icd10:  coding{sysICD10CM, "I10", "Essential (primary) hypertension"},
		drugs:  []string{"lisinopril10", "amlodipine5", "losartan50", "hctz25", "lisinopril20"},
		labs:   []string{"creatinine"},
		denies: []string{"chest pain", "headaches", "vision changes"},
		hpi: []string{
			"{He} checks {his} blood pressure at home a few times a week; readings are mostly in the {sbp10}s systolic.",
			"{He} reports taking {meds} every morning without missed doses.",
			"No lightheadedness since the last dose adjustment.",
			"{He} has cut back on salt and eats out less often; tolerating {meds} without side effects.",
			"Occasionally forgets {his} evening walk but takes {meds} reliably.",
		},
		exam: []string{"Heart: regular rate and rhythm, no murmurs, rubs, or gallops."},
		plan: []string{
			"Reviewed low-sodium diet and regular aerobic exercise. Goal blood pressure below 130/80.",
			"Basic metabolic panel to monitor renal function and potassium.",
		},
		returnIf: []string{"Seek care urgently for severe headache, chest pain, or sudden vision changes."},
	},
	{
		key: "t2dm", name: "type 2 diabetes mellitus", chronic: true, minAge: 30, weight: 18,
		snomed: coding{sysSNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"},
		icd10:  coding{sysICD10CM, "E11.9", "Type 2 diabetes mellitus without complications"},
		core:   []string{"metformin500", "metforminER500"},
		drugs:  []string{"insulin7030"},
		labs:   []string{"hba1c", "glucose", "creatinine"},
		denies: []string{"polyuria", "polydipsia", "numbness in the feet", "blurred vision"},
		hpi: []string{
			"{He} checks {his} blood sugar at home; fasting readings are mostly in the {glu10}s.",
			"{He} has been following a carbohydrate-controlled diet with variable success.",
			"Tolerating {meds} without gastrointestinal side effects.",
			"No hypoglycemic episodes since the last visit; {he} takes {meds} as directed.",
			"Home glucose log reviewed; post-dinner readings run higher than morning readings.",
		},
		exam: []string{"Feet: monofilament sensation intact bilaterally, no ulcers or calluses."},
		plan: []string{
			"Recheck hemoglobin A1c in 3 months. Annual diabetic eye exam and urine microalbumin ordered.",
			"Reviewed symptoms of hypoglycemia and sick-day rules.",
		},
		returnIf: []string{"Call the clinic if blood sugars stay above 300 mg/dL or if {he} has symptoms of low blood sugar."},
	},
	{
		key: "hld", name: "hyperlipidemia", chronic: true, minAge: 30, weight: 24,
		snomed: coding{sysSNOMED, "55822004", "Hyperlipidemia (disorder)"},
		icd10:  coding{sysICD10CM, "E78.5", "Hyperlipidemia, unspecified"},
		drugs:  []string{"atorvastatin20", "atorvastatin40", "rosuvastatin10", "simvastatin20", "pravastatin40"},
		labs:   []string{"cholesterol", "ldl", "hdl", "triglycerides"},
		denies: []string{"muscle aches"},
		hpi: []string{
			"Tolerating {meds} without muscle aches or weakness.",
			"{He} takes {meds} nightly and has been trying to limit fried foods.",
		},
		plan: []string{
			"Fasting lipid panel in 6 months. Encouraged a Mediterranean-style diet and regular exercise.",
		},
		returnIf: []string{"Stop the statin and call if {he} develops unexplained muscle pain or dark urine."},
	},
	{
		key: "asthma", name: "asthma", chronic: true, minAge: 18, weight: 9,
		snomed: coding{sysSNOMED, "195967001", "Asthma (disorder)"},
		icd10:  coding{sysICD10CM, "J45.909", "Unspecified asthma, uncomplicated"},
		drugs:  []string{"albuterolMDI"},
		denies: []string{"wheezing", "nighttime cough", "shortness of breath"},
		hpi: []string{
			"{He} uses {meds} about once a week, mostly with exercise or cold air.",
			"No nighttime awakenings and no oral steroid courses in the past year.",
		},
		exam:     []string{"Lungs: clear to auscultation bilaterally, no wheezes."},
		plan:     []string{"Asthma action plan reviewed. Avoid known triggers including smoke exposure."},
		returnIf: []string{"Return if {he} needs the rescue inhaler more than twice a week or has shortness of breath at rest."},
	},
	{
		key: "copd", name: "chronic obstructive pulmonary disease", chronic: true, minAge: 45, weight: 6,
		snomed: coding{sysSNOMED, "13645005", "Chronic obstructive lung disease (disorder)"},
		icd10:  coding{sysICD10CM, "J44.9", "Chronic obstructive pulmonary disease, unspecified"},
		drugs:  []string{"albuterolMDI"},
		denies: []string{"increased sputum production", "fever", "hemoptysis"},
		hpi: []string{
			"{He} reports chronic exertional dyspnea after one flight of stairs, unchanged from baseline.",
			"Uses {meds} two to three times a week.",
		},
		exam:     []string{"Lungs: mildly diminished breath sounds at the bases, no wheezes or crackles."},
		plan:     []string{"Pulmonary function testing ordered. Referral to pulmonary rehabilitation discussed."},
		returnIf: []string{"Return for worsening shortness of breath, increased or discolored sputum, or fever."},
	},
	{
		key: "mdd", name: "major depressive disorder", chronic: true, minAge: 18, weight: 10,
		snomed: coding{sysSNOMED, "370143000", "Major depressive disorder (disorder)"},
		icd10:  coding{sysICD10CM, "F32.9", "Major depressive disorder, single episode, unspecified"},
		drugs:  []string{"sertraline50", "escitalopram10", "fluoxetine20"},
		denies: []string{"suicidal ideation", "homicidal ideation"},
		hpi: []string{
			"{He} reports improved mood and energy on {meds}; PHQ-9 score today is {phq}.",
			"Sleeping about seven hours a night. Continues to see a therapist every other week.",
			"Mood has been lower this winter, but {he} remains engaged with work and family; taking {meds} daily.",
		},
		exam:     []string{"Psych: normal affect, linear and goal-directed thought process."},
		plan:     []string{"Continue counseling with behavioral health. Safety plan reviewed."},
		returnIf: []string{"If {he} has thoughts of harming {him}self, {he} should call 988 or go to the nearest emergency department."},
	},
	{
		key: "gad", name: "generalized anxiety disorder", chronic: true, minAge: 18, weight: 9,
		snomed: coding{sysSNOMED, "21897009", "Generalized anxiety disorder (disorder)"},
		icd10:  coding{sysICD10CM, "F41.1", "Generalized anxiety disorder"},
		drugs:  []string{"escitalopram10", "sertraline50"},
		denies: []string{"panic attacks", "palpitations"},
		hpi: []string{
			"{He} reports persistent worry about work and family, improved since starting {meds}; GAD-7 score is {gad7}.",
		},
		plan: []string{"Discussed cognitive behavioral therapy; referral placed. Limit caffeine."},
	},
	{
		key: "hypothyroid", name: "hypothyroidism", chronic: true, minAge: 18, weight: 8,
		snomed: coding{sysSNOMED, "40930008", "Hypothyroidism (disorder)"},
		icd10:  coding{sysICD10CM, "E03.9", "Hypothyroidism, unspecified"},
		drugs:  []string{"levothyroxine50"},
		labs:   []string{"tsh"},
		denies: []string{"fatigue", "cold intolerance", "constipation"},
		hpi:    []string{"{He} takes {meds} every morning on an empty stomach; energy level is good."},
		exam:   []string{"Neck: thyroid not enlarged, no nodules."},
		plan:   []string{"Check TSH 6 to 8 weeks after any dose change, otherwise yearly."},
	},
	{
		key: "gerd", name: "gastroesophageal reflux disease", chronic: true, minAge: 18, weight: 10,
		snomed: coding{sysSNOMED, "235595009", "Gastroesophageal reflux disease (disorder)"},
		icd10:  coding{sysICD10CM, "K21.9", "Gastro-esophageal reflux disease without esophagitis"},
		drugs:  []string{"omeprazole20"},
		denies: []string{"difficulty swallowing", "black stools", "unintentional weight loss"},
		hpi: []string{
			"Heartburn is well controlled on {meds}.",
			"Occasional breakthrough heartburn after large or spicy meals despite {meds}.",
		},
		plan: []string{"Avoid late meals and elevate the head of the bed. Consider step-down therapy at the next visit."},
		returnIf: []string{
			"Return promptly for difficulty swallowing, vomiting blood, or black stools.",
		},
	},
	{
		key: "afib", name: "atrial fibrillation", chronic: true, minAge: 55, weight: 4,
		snomed: coding{sysSNOMED, "49436004", "Atrial fibrillation (disorder)"},
		icd10:  coding{sysICD10CM, "I48.91", "Unspecified atrial fibrillation"},
		core:   []string{"apixaban5", "warfarin5"},
		drugs:  []string{"metoprololTart25"},
		denies: []string{"syncope", "easy bruising", "blood in the stool"},
		hpi: []string{
			"{He} occasionally notices palpitations but no fainting.",
			"Taking {meds} as prescribed; no bleeding or bruising on anticoagulation.",
		},
		exam:     []string{"Heart: irregularly irregular rhythm, rate controlled, no murmurs."},
		plan:     []string{"CHA2DS2-VASc score reviewed; anticoagulation remains indicated. Echocardiogram within the past year was reviewed."},
		returnIf: []string{"Go to the emergency department for chest pain, fainting, or signs of stroke such as facial droop or arm weakness."},
	},
	{
		key: "cad", name: "coronary artery disease", chronic: true, minAge: 50, weight: 5,
		snomed: coding{sysSNOMED, "53741008", "Coronary arteriosclerosis (disorder)"},
		icd10:  coding{sysICD10CM, "I25.10", "Atherosclerotic heart disease of native coronary artery without angina pectoris"},
		core:   []string{"aspirin81"},
		drugs:  []string{"atorvastatin40", "metoprololSucc100", "clopidogrel75", "nitroglycerin"},
		labs:   []string{"cholesterol", "ldl", "hdl", "triglycerides"},
		denies: []string{"chest pain", "exertional dyspnea"},
		hpi: []string{
			"No anginal symptoms since the last visit; {he} walks 20 minutes most days without chest discomfort.",
		},
		plan:     []string{"Cardiology follow-up in 6 months. LDL goal below 70 mg/dL."},
		returnIf: []string{"Call 911 for chest pain lasting more than 5 minutes or not relieved by nitroglycerin."},
	},
	{
		key: "hf", name: "heart failure", chronic: true, minAge: 55, weight: 3,
		snomed: coding{sysSNOMED, "84114007", "Heart failure (disorder)"},
		icd10:  coding{sysICD10CM, "I50.9", "Heart failure, unspecified"},
		core:   []string{"furosemide40"},
		drugs:  []string{"carvedilol12"},
		labs:   []string{"creatinine"},
		denies: []string{"orthopnea", "paroxysmal nocturnal dyspnea"},
		hpi:    []string{"Home weights are stable and {he} follows a 2-gram sodium diet. Sleeps on one pillow."},
		exam:   []string{"Extremities: trace bilateral ankle edema.", "Lungs: no crackles."},
		plan: []string{
			"Daily weights; call for a gain of more than 3 pounds in a day or 5 pounds in a week. Echocardiogram ordered.",
		},
	},
	{
		key: "ckd3", name: "chronic kidney disease stage 3", chronic: true, minAge: 50, weight: 4,
		snomed: coding{sysSNOMED, "433144002", "Chronic kidney disease stage 3 (disorder)"},
		icd10:  coding{sysICD10CM, "N18.3", "Chronic kidney disease, stage 3 (moderate)"},
		labs:   []string{"creatinine"},
		denies: []string{"decreased urine output", "leg swelling"},
		hpi:    []string{"Avoiding NSAIDs as advised."},
		plan: []string{
			"Monitor creatinine and eGFR every 6 months. Avoid nephrotoxic medications including NSAIDs; renally dose medications.",
		},
	},
	{
		key: "knee_oa", name: "osteoarthritis of knee", chronic: true, minAge: 45, weight: 8,
		snomed: coding{sysSNOMED, "239873007", "Osteoarthritis of knee (disorder)"},
		icd10:  coding{sysICD10CM, "M17.9", "Osteoarthritis of knee, unspecified"},
		drugs:  []string{"acetaminophen325", "naproxen220"},
		denies: []string{"joint redness", "fever"},
		hpi: []string{
			"Chronic bilateral knee pain, worse with stairs and after prolonged standing; morning stiffness lasts under 30 minutes.",
		},
		exam: []string{"Knees: crepitus with range of motion, no effusion or erythema."},
		plan: []string{"Physical therapy for quadriceps strengthening. Weight loss encouraged. Consider intra-articular steroid injection if pain worsens."},
	},
	{
		key: "lbp", name: "chronic low back pain", chronic: true, minAge: 25, weight: 7,
		snomed: coding{sysSNOMED, "278860009", "Chronic low back pain (finding)"},
		icd10:  coding{sysICD10CM, "M54.5", "Low back pain"},
		drugs:  []string{"ibuprofen200", "gabapentin300"},
		denies: []string{"bowel or bladder incontinence", "saddle anesthesia", "leg weakness"},
		hpi:    []string{"Intermittent low back pain without radiation to the legs, worse after long drives."},
		exam:   []string{"Back: lumbar paraspinal tenderness, negative straight leg raise bilaterally."},
		plan:   []string{"Home exercise program and core strengthening. Imaging is not indicated at this time."},
		returnIf: []string{
			"Return immediately for new leg weakness, numbness in the groin, or loss of bowel or bladder control.",
		},
	},
	{
		key: "migraine", name: "migraine", chronic: true, minAge: 18, maxAge: 70, weight: 5,
		snomed: coding{sysSNOMED, "37796009", "Migraine (disorder)"},
		icd10:  coding{sysICD10CM, "G43.909", "Migraine, unspecified, not intractable, without status migrainosus"},
		drugs:  []string{"naproxen220", "ibuprofen200"},
		denies: []string{"aura", "focal weakness"},
		hpi:    []string{"About two migraines a month with photophobia and nausea, relieved by {meds} and rest in a dark room."},
		exam:   []string{"Neuro: cranial nerves II-XII intact, no focal deficits."},
		plan:   []string{"Headache diary. Limit analgesic use to fewer than 10 days a month to avoid medication-overuse headache."},
		returnIf: []string{
			"Seek emergency care for the worst headache of {his} life or a headache with fever and stiff neck.",
		},
	},
	{
		key: "rhinitis", name: "seasonal allergic rhinitis", chronic: true, minAge: 18, weight: 8,
		snomed: coding{sysSNOMED, "367498001", "Seasonal allergic rhinitis (disorder)"},
		icd10:  coding{sysICD10CM, "J30.2", "Other seasonal allergic rhinitis"},
		drugs:  []string{"loratadine10"},
		denies: []string{"fever", "facial pain"},
		hpi:    []string{"Nasal congestion, sneezing, and itchy eyes every spring, controlled with {meds}."},
		exam:   []string{"Nose: pale, boggy nasal turbinates."},
		plan:   []string{"Saline nasal rinses during pollen season."},
	},
	{
		key: "obesity", name: "obesity", chronic: true, minAge: 18, weight: 12,
		snomed: coding{sysSNOMED, "414916001", "Obesity (disorder)"},
		icd10:  coding{sysICD10CM, "E66.9", "Obesity, unspecified"},
		hpi:    []string{"{He} has been trying to increase physical activity and reduce portion sizes."},
		plan: []string{
			"Counseled on nutrition and at least 150 minutes of moderate exercise per week; referral to nutrition services offered.",
		},
	},
	{
		key: "prediabetes", name: "prediabetes", chronic: true, minAge: 25, weight: 8,
		snomed: coding{sysSNOMED, "15777000", "Prediabetes (finding)"},
		icd10:  coding{sysICD10CM, "R73.03", "Prediabetes"},
		labs:   []string{"hba1c", "glucose"},
		denies: []string{"polyuria", "polydipsia"},
		hpi:    []string{"Working on dietary changes since a prior elevated hemoglobin A1c."},
		plan:   []string{"Lifestyle modification with a weight-loss goal of 5 to 7 percent. Recheck hemoglobin A1c in 6 months."},
	},
	{
		key: "ida", name: "iron deficiency anemia", chronic: true, minAge: 18, weight: 4,
		snomed: coding{sysSNOMED, "87522002", "Iron deficiency anemia (disorder)"},
		icd10:  coding{sysICD10CM, "D50.9", "Iron deficiency anemia, unspecified"},
		drugs:  []string{"ferrousSulfate325"},
		labs:   []string{"hemoglobin"},
		denies: []string{"black stools", "blood in the stool"},
		hpi:    []string{"Mild fatigue, improving since starting {meds}."},
		plan:   []string{"Take iron with vitamin C and away from calcium. Recheck CBC and ferritin in 3 months; colonoscopy if not up to date."},
	},
	{
		key: "osteoporosis", name: "osteoporosis", chronic: true, sex: "female", minAge: 55, weight: 5,
		snomed: coding{sysSNOMED, "64859006", "Osteoporosis (disorder)"},
		icd10:  coding{sysICD10CM, "M81.0", "Age-related osteoporosis without current pathological fracture"},
		drugs:  []string{"alendronate10"},
		denies: []string{"falls", "new back pain"},
		hpi:    []string{"Takes {meds} in the morning with a full glass of water and stays upright for 30 minutes. No recent falls or fractures."},
		plan:   []string{"Calcium and vitamin D supplementation. Repeat DEXA scan in 2 years. Fall prevention reviewed."},
	},
	{
		key: "osa", name: "obstructive sleep apnea", chronic: true, minAge: 30, weight: 4,
		snomed: coding{sysSNOMED, "78275009", "Obstructive sleep apnea syndrome (disorder)"},
		icd10:  coding{sysICD10CM, "G47.33", "Obstructive sleep apnea (adult) (pediatric)"},
		denies: []string{"morning headaches"},
		hpi:    []string{"Uses CPAP most nights with improved daytime sleepiness."},
		plan:   []string{"Continue nightly CPAP; device download shows good adherence. Weight loss encouraged."},
	},
	{
		key: "gout", name: "gout", chronic: true, sex: "male", minAge: 35, weight: 3,
		snomed: coding{sysSNOMED, "90560007", "Gout (disorder)"},
		icd10:  coding{sysICD10CM, "M10.9", "Gout, unspecified"},
		drugs:  []string{"allopurinol100"},
		denies: []string{"joint swelling"},
		hpi:    []string{"No gout flares in the past 6 months on {meds}."},
		exam:   []string{"Extremities: no tophi, no joint swelling or warmth."},
		plan:   []string{"Uric acid goal below 6 mg/dL. Limit alcohol, red meat, and sugary drinks."},
	},
	{
		key: "insomnia", name: "insomnia", chronic: true, minAge: 18, weight: 5,
		snomed: coding{sysSNOMED, "193462001", "Insomnia (disorder)"},
		icd10:  coding{sysICD10CM, "G47.00", "Insomnia, unspecified"},
		drugs:  []string{"trazodone50"},
		denies: []string{"snoring", "daytime sleepiness"},
		hpi:    []string{"Difficulty falling asleep most nights; takes {meds} at bedtime as needed with benefit."},
		plan:   []string{"Sleep hygiene reviewed; consider cognitive behavioral therapy for insomnia."},
	},
	{
		key: "bph", name: "benign prostatic hyperplasia", chronic: true, sex: "male", minAge: 50, weight: 5,
		snomed: coding{sysSNOMED, "266569009", "Benign prostatic hyperplasia (disorder)"},
		icd10:  coding{sysICD10CM, "N40.0", "Benign prostatic hyperplasia without lower urinary tract symptoms"},
		drugs:  []string{"tamsulosin04"},
		denies: []string{"hematuria", "dysuria"},
		hpi:    []string{"Urinary frequency and nocturia once nightly, improved on {meds}."},
		plan:   []string{"PSA screening discussed. Urology referral if symptoms progress."},
		returnIf: []string{
			"Seek care right away if {he} is unable to urinate.",
		},
	},

	// Acute problems.
	{
		key: "viral_pharyngitis", name: "acute viral pharyngitis", weight: 12, setting: []string{"AMB"},
		snomed:    coding{sysSNOMED, "195662009", "Acute viral pharyngitis (disorder)"},
		icd10:     coding{sysICD10CM, "J02.9", "Acute pharyngitis, unspecified"},
		adjuncts:  []string{"acetaminophen325"},
		symptoms:  []string{"sore throat", "cough", "nasal congestion"},
		denies:    []string{"difficulty swallowing", "drooling", "rash"},
		complaint: []string{"Sore throat for {days}.", "Sore throat and congestion."},
		hpi: []string{
			"{He} reports {days} of sore throat, nasal congestion, and a mild dry cough. Several coworkers have been sick with similar symptoms.",
		},
		exam:   []string{"Oropharynx: mild erythema without tonsillar exudates.", "Neck: supple, no cervical lymphadenopathy."},
		assess: []string{"Likely viral etiology; rapid strep antigen negative."},
		plan:   []string{"Supportive care with fluids, rest, and throat lozenges. Antibiotics are not indicated."},
		returnIf: []string{
			"Return if fever develops, if symptoms persist beyond 7 days, or if {he} has difficulty swallowing or breathing.",
		},
	},
	{
		key: "strep", name: "streptococcal pharyngitis", weight: 7, setting: []string{"AMB"}, fever: true,
		snomed:    coding{sysSNOMED, "43878008", "Streptococcal sore throat (disorder)"},
		icd10:     coding{sysICD10CM, "J02.0", "Streptococcal pharyngitis"},
		drugs:     []string{"penicillinV500", "amoxicillin500"},
		altDrugs:  []string{"azithromycin250"},
		symptoms:  []string{"sore throat", "fever"},
		denies:    []string{"cough", "runny nose"},
		complaint: []string{"Sore throat and fever.", "Severe sore throat for {days}."},
		hpi: []string{
			"{He} reports {days} of severe sore throat, fever to 38.9 C at home, and painful swallowing.",
		},
		exam:   []string{"Oropharynx: tonsillar swelling with white exudates.", "Neck: tender anterior cervical lymphadenopathy."},
		assess: []string{"Centor score 4; rapid strep antigen positive."},
		plan: []string{
			"Complete the full antibiotic course. Replace toothbrush after 24 hours of antibiotics; may return to work once afebrile for 24 hours.",
		},
		returnIf: []string{
			"Return if unable to swallow liquids, if the voice becomes muffled, or if fever persists beyond 48 hours on antibiotics.",
		},
	},
	{
		key: "bronchitis", name: "acute bronchitis", weight: 9, setting: []string{"AMB"},
		snomed:    coding{sysSNOMED, "10509002", "Acute bronchitis (disorder)"},
		icd10:     coding{sysICD10CM, "J20.9", "Acute bronchitis, unspecified"},
		symptoms:  []string{"cough"},
		denies:    []string{"shortness of breath", "chest pain", "hemoptysis"},
		complaint: []string{"Cough for {days}.", "Persistent cough after a cold."},
		hpi: []string{
			"{He} reports {days} of productive cough with clear sputum that began after a cold. Low-grade temperatures at home have resolved.",
		},
		exam:   []string{"Lungs: scattered rhonchi that clear with coughing; no crackles or wheezes."},
		assess: []string{"Possible early pneumonia was considered but is unlikely given normal vital signs and lung exam; chest X-ray not indicated."},
		plan:   []string{"Supportive care with honey and warm fluids. Antibiotics are not indicated for acute bronchitis."},
		returnIf: []string{
			"Return if the cough persists beyond 3 weeks, if fever develops, or if {he} becomes short of breath.",
		},
	},
	{
		key: "sinusitis", name: "viral sinusitis", weight: 7, setting: []string{"AMB"},
		snomed:    coding{sysSNOMED, "444814009", "Viral sinusitis (disorder)"},
		icd10:     coding{sysICD10CM, "J01.90", "Acute sinusitis, unspecified"},
		symptoms:  []string{"nasal congestion", "facial pressure"},
		denies:    []string{"fever", "vision changes", "severe headache"},
		complaint: []string{"Nasal congestion and facial pressure."},
		hpi: []string{
			"{He} reports {days} of nasal congestion, facial pressure, and clear rhinorrhea.",
		},
		exam:   []string{"Nose: mucosal edema with clear discharge. Mild maxillary sinus tenderness."},
		assess: []string{"Likely viral; symptoms for less than 10 days without double worsening."},
		plan:   []string{"Saline irrigation and steam inhalation. Antibiotics are not indicated at this time."},
		returnIf: []string{
			"Return if symptoms last longer than 10 days, if fever above 39 C develops, or if {he} notices swelling around the eyes.",
		},
	},
	{
		key: "uti", name: "urinary tract infection", weight: 8, setting: []string{"AMB"}, sex: "female",
		snomed:    coding{sysSNOMED, "68566005", "Urinary tract infectious disease (disorder)"},
		icd10:     coding{sysICD10CM, "N39.0", "Urinary tract infection, site not specified"},
		drugs:     []string{"nitrofurantoin50"},
		adjuncts:  []string{"phenazopyridine100"},
		symptoms:  []string{"dysuria", "urinary frequency"},
		denies:    []string{"fever", "flank pain", "nausea"},
		complaint: []string{"Burning with urination.", "Painful urination for {days}."},
		hpi:       []string{"{He} reports {days} of dysuria, urinary frequency, and urgency."},
		exam:      []string{"Abdomen: mild suprapubic tenderness, no costovertebral angle tenderness."},
		assess:    []string{"Urinalysis positive for leukocyte esterase and nitrites, consistent with uncomplicated cystitis."},
		plan:      []string{"Urine culture sent. Increase fluid intake."},
		returnIf: []string{
			"Return if fever, flank pain, or vomiting develops, as these may indicate a kidney infection.",
		},
	},
	{
		key: "otitis", name: "acute otitis media", weight: 4, setting: []string{"AMB"},
		snomed:    coding{sysSNOMED, "65363002", "Otitis media (disorder)"},
		icd10:     coding{sysICD10CM, "H66.90", "Otitis media, unspecified, unspecified ear"},
		drugs:     []string{"amoxicillin500"},
		altDrugs:  []string{"azithromycin250"},
		adjuncts:  []string{"ibuprofen200"},
		symptoms:  []string{"ear pain", "muffled hearing"},
		denies:    []string{"ear drainage", "dizziness"},
		complaint: []string{"Left ear pain."},
		hpi: []string{
			"{He} reports {days} of left ear pain and muffled hearing following an upper respiratory infection.",
		},
		exam:   []string{"Ears: left tympanic membrane erythematous and bulging; right tympanic membrane normal."},
		assess: []string{"Acute left otitis media."},
		plan:   []string{"Warm compresses for comfort."},
		returnIf: []string{
			"Return if ear pain persists after 48 to 72 hours of antibiotics or if swelling develops behind the ear.",
		},
	},
	{
		key: "ankle_sprain", name: "sprain of ankle", weight: 6, setting: []string{"AMB", "EMER"},
		snomed:    coding{sysSNOMED, "44465007", "Sprain of ankle (disorder)"},
		icd10:     coding{sysICD10CM, "S93.409A", "Sprain of unspecified ligament of unspecified ankle, initial encounter"},
		drugs:     []string{"ibuprofen200"},
		symptoms:  []string{"ankle pain", "ankle swelling"},
		denies:    []string{"numbness", "tingling", "other injuries"},
		complaint: []string{"Right ankle injury.", "Twisted right ankle."},
		hpi: []string{
			"{He} twisted {his} right ankle {days} ago stepping off a curb and was able to bear weight afterwards with pain.",
		},
		exam:   []string{"Right ankle: swelling and tenderness over the anterior talofibular ligament; no bony tenderness at the malleoli; neurovascularly intact."},
		assess: []string{"Ottawa ankle rules negative; fracture is unlikely and imaging was deferred."},
		plan:   []string{"Rest, ice, compression, and elevation. Ankle brace provided; weight bearing as tolerated."},
		returnIf: []string{
			"Return if unable to bear weight after 5 days or if numbness or increasing pain develops.",
		},
	},
	{
		key: "chest_pain", name: "chest pain", weight: 4, setting: []string{"EMER"}, minAge: 30,
		snomed:    coding{sysSNOMED, "29857009", "Chest pain (finding)"},
		icd10:     coding{sysICD10CM, "R07.9", "Chest pain, unspecified"},
		drugs:     []string{"acetaminophen325"},
		symptoms:  []string{"chest pain"},
		denies:    []string{"diaphoresis", "shortness of breath", "nausea"},
		complaint: []string{"Chest pain."},
		hpi: []string{
			"{He} presents with 1 day of intermittent left-sided chest pressure, not related to exertion, lasting several minutes without radiation.",
		},
		exam: []string{"Chest wall: reproducible tenderness over the left costochondral junction."},
		assess: []string{
			"ECG with normal sinus rhythm and no ST changes; troponin negative x2. Acute coronary syndrome ruled out; suspect musculoskeletal chest wall pain. Cannot rule out reflux as a contributor.",
		},
		plan: []string{"Discharged home from the emergency department. Outpatient stress test ordered."},
		returnIf: []string{
			"Return immediately for chest pain at rest, pain with shortness of breath, sweating, or fainting.",
		},
	},
	{
		key: "gastroenteritis", name: "gastroenteritis", weight: 5, setting: []string{"AMB", "EMER"},
		snomed:    coding{sysSNOMED, "25374005", "Gastroenteritis (disorder)"},
		icd10:     coding{sysICD10CM, "K52.9", "Noninfective gastroenteritis and colitis, unspecified"},
		symptoms:  []string{"nausea", "vomiting", "diarrhea"},
		denies:    []string{"blood in the stool", "severe abdominal pain"},
		complaint: []string{"Vomiting and diarrhea."},
		hpi: []string{
			"{He} reports {days} of nausea, non-bloody diarrhea, and several episodes of vomiting. A family member had similar symptoms last week.",
		},
		exam:   []string{"Abdomen: soft, mild diffuse tenderness, no rebound or guarding. Mucous membranes slightly dry."},
		assess: []string{"Likely viral gastroenteritis with mild dehydration, improved after oral rehydration."},
		plan:   []string{"Oral rehydration and a bland diet as tolerated. Hand hygiene to prevent spread."},
		returnIf: []string{
			"Return if unable to keep fluids down, if there is blood in the stool, or if {he} becomes lightheaded.",
		},
	},
	{
		key: "pneumonia", name: "community-acquired pneumonia", weight: 3, setting: []string{"IMP"}, fever: true, minAge: 40,
		snomed:    coding{sysSNOMED, "233604007", "Pneumonia (disorder)"},
		icd10:     coding{sysICD10CM, "J18.9", "Pneumonia, unspecified organism"},
		drugs:     []string{"azithromycin250"},
		labs:      []string{"wbc"},
		symptoms:  []string{"fever", "cough", "shortness of breath", "chills"},
		denies:    []string{"hemoptysis", "leg swelling"},
		complaint: []string{"Fever, cough, and shortness of breath."},
		hpi: []string{
			"{He} presented to the emergency department with {days} of fever, productive cough with yellow sputum, and shortness of breath. Oxygen saturation was 89 percent on room air.",
		},
		exam:   []string{"Lungs: crackles at the right base with egophony."},
		assess: []string{"Chest X-ray showed right lower lobe consolidation consistent with community-acquired pneumonia."},
		course: "{He} was admitted to the medicine service and treated with IV ceftriaxone and azithromycin. Blood cultures showed no growth. Supplemental oxygen was weaned to room air by hospital day 2, fever resolved, and {he} tolerated a regular diet. Transitioned to oral antibiotics to complete the course.",
		plan:   []string{"Follow-up chest X-ray in 6 weeks to document resolution."},
		returnIf: []string{
			"Return for worsening shortness of breath, chest pain, confusion, or fever above 38.5 C.",
		},
	},
	{
		key: "cellulitis", name: "cellulitis of the left leg", weight: 3, setting: []string{"AMB", "IMP"}, fever: true,
		snomed:    coding{sysSNOMED, "128045006", "Cellulitis (disorder)"},
		icd10:     coding{sysICD10CM, "L03.90", "Cellulitis, unspecified"},
		drugs:     []string{"cephalexin500"},
		labs:      []string{"wbc"},
		symptoms:  []string{"leg redness", "leg swelling", "fever"},
		denies:    []string{"drainage from the wound", "numbness"},
		complaint: []string{"Redness and swelling of the left leg."},
		hpi: []string{
			"{He} reports {days} of spreading redness, warmth, and pain of the left lower leg after a minor scrape while gardening.",
		},
		exam:   []string{"Left lower extremity: erythema and warmth from the ankle to mid-shin, borders marked; no fluctuance or crepitus."},
		assess: []string{"Nonpurulent cellulitis without abscess on bedside ultrasound. Deep vein thrombosis is unlikely."},
		course: "{He} was admitted for IV cefazolin given fever and tachycardia. Erythema receded within the marked borders over 48 hours and {he} was transitioned to oral cephalexin before discharge.",
		plan:   []string{"Elevate the leg and check the marked borders daily."},
		returnIf: []string{
			"Return if redness spreads beyond the marked borders, if fever recurs, or if the leg becomes numb.",
		},
	},
}

// conditionByKey indexes conditions by key.
var conditionByKey = func() map[string]*condition {
	m := make(map[string]*condition, len(conditions))
	for _, c := range conditions {
		m[c.key] = c
	}
	return m
}()

// route is a route of administration.
type route struct {
	coding coding
	abbr   string // as written in notes, e.g. PO
	text   string // plain words, e.g. by mouth
}

var routes = map[string]route{
	"oral":       {coding{sysSNOMED, "26643006", "Oral route (qualifier value)"}, "PO", "by mouth"},
	"inhaled":    {coding{sysSNOMED, "447694001", "Respiratory tract route (qualifier value)"}, "INH", "inhaled"},
	"subcut":     {coding{sysSNOMED, "34206005", "Subcutaneous route (qualifier value)"}, "SC", "subcutaneously"},
	"sublingual": {coding{sysSNOMED, "37839007", "Sublingual route (qualifier value)"}, "SL", "under the tongue"},
}

// frequency is a dosing schedule.
type frequency struct {
	abbr   string // as written in notes, e.g. BID
	text   string // plain words, e.g. twice daily
	gts    string // v3-GTSAbbreviation code, "" when there is none
	freq   int    // Timing.repeat.frequency
	period int    // Timing.repeat.period
	unit   string // Timing.repeat.periodUnit
	when   string // Timing.repeat.when, "" for none
	perDay int    // doses per day, for dispense quantities
}

var frequencies = map[string]frequency{
	"QD":    {"daily", "once daily", "QD", 1, 1, "d", "", 1},
	"QAM":   {"every morning", "every morning", "AM", 1, 1, "d", "MORN", 1},
	"QHS":   {"QHS", "at bedtime", "", 1, 1, "d", "HS", 1},
	"BID":   {"BID", "twice daily", "BID", 2, 1, "d", "", 2},
	"TID":   {"TID", "three times daily", "TID", 3, 1, "d", "", 3},
	"QID":   {"QID", "four times daily", "QID", 4, 1, "d", "", 4},
	"Q4H":   {"Q4H", "every 4 hours", "Q4H", 1, 4, "h", "", 6},
	"Q6H":   {"Q6H", "every 6 hours", "Q6H", 1, 6, "h", "", 4},
	"Q5MIN": {"q5min", "every 5 minutes, up to 3 doses", "", 1, 5, "min", "", 3},
}

// drug is one prescribable product with its usual adult sig.
type drug struct {
	key     string
	class   string // therapeutic class; a patient takes one long-term drug per class
	rxnorm  string
	display string // RxNorm name
	name    string // name used in notes
	text    string // MedicationRequest.medicationCodeableConcept.text
	dose    string // dose value as decimal text
	unit    string // dose unit as written, e.g. mg
	ucum    string // UCUM code of the dose unit
	form    string // dispensed unit, e.g. tablet
	perDose int    // dispensed units per dose
	route   string
	freq    string
	prn     string // as-needed indication, "" when scheduled
	days    int    // course length in days, 0 for long-term therapy
	extra   string // additional instruction, "" for none
	penicil bool   // a penicillin, avoided in penicillin allergy
}

var drugs = []*drug{
	{key: "lisinopril10", class: "raas", rxnorm: "314076", display: "lisinopril 10 MG Oral Tablet", name: "lisinopril", text: "lisinopril 10 mg tablet", dose: "10", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "lisinopril20", class: "raas", rxnorm: "314077", display: "lisinopril 20 MG Oral Tablet", name: "lisinopril", text: "lisinopril 20 mg tablet", dose: "20", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "losartan50", class: "raas", rxnorm: "979492", display: "losartan potassium 50 MG Oral Tablet", name: "losartan", text: "losartan 50 mg tablet", dose: "50", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "amlodipine5", class: "ccb", rxnorm: "197361", display: "amlodipine 5 MG Oral Tablet", name: "amlodipine", text: "amlodipine 5 mg tablet", dose: "5", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "hctz25", class: "thiazide", rxnorm: "310798", display: "hydrochlorothiazide 25 MG Oral Tablet", name: "hydrochlorothiazide", text: "hydrochlorothiazide 25 mg tablet", dose: "25", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QAM"},
	{key: "metoprololTart25", class: "betablocker", rxnorm: "866924", display: "metoprolol tartrate 25 MG Oral Tablet", name: "metoprolol tartrate", text: "metoprolol tartrate 25 mg tablet", dose: "25", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "BID"},
	{key: "metoprololSucc100", class: "betablocker", rxnorm: "866412", display: "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet", name: "metoprolol succinate", text: "metoprolol succinate ER 100 mg tablet", dose: "100", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "carvedilol12", class: "betablocker", rxnorm: "200032", display: "carvedilol 12.5 MG Oral Tablet", name: "carvedilol", text: "carvedilol 12.5 mg tablet", dose: "12.5", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "BID", extra: "with food"},
	{key: "furosemide40", class: "loop", rxnorm: "313988", display: "furosemide 40 MG Oral Tablet", name: "furosemide", text: "furosemide 40 mg tablet", dose: "40", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QAM"},
	{key: "atorvastatin20", class: "statin", rxnorm: "617310", display: "atorvastatin 20 MG Oral Tablet", name: "atorvastatin", text: "atorvastatin 20 mg tablet", dose: "20", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "atorvastatin40", class: "statin", rxnorm: "617311", display: "atorvastatin 40 MG Oral Tablet", name: "atorvastatin", text: "atorvastatin 40 mg tablet", dose: "40", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "rosuvastatin10", class: "statin", rxnorm: "859747", display: "rosuvastatin calcium 10 MG Oral Tablet", name: "rosuvastatin", text: "rosuvastatin 10 mg tablet", dose: "10", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "simvastatin20", class: "statin", rxnorm: "312961", display: "simvastatin 20 MG Oral Tablet", name: "simvastatin", text: "simvastatin 20 mg tablet", dose: "20", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QHS"},
	{key: "pravastatin40", class: "statin", rxnorm: "904475", display: "pravastatin sodium 40 MG Oral Tablet", name: "pravastatin", text: "pravastatin 40 mg tablet", dose: "40", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QHS"},
	{key: "aspirin81", class: "aspirin", rxnorm: "243670", display: "aspirin 81 MG Oral Tablet", name: "aspirin", text: "aspirin 81 mg tablet", dose: "81", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "clopidogrel75", class: "p2y12", rxnorm: "309362", display: "clopidogrel 75 MG Oral Tablet", name: "clopidogrel", text: "clopidogrel 75 mg tablet", dose: "75", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "apixaban5", class: "anticoagulant", rxnorm: "1364445", display: "apixaban 5 MG Oral Tablet", name: "apixaban", text: "apixaban 5 mg tablet", dose: "5", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "BID"},
	{key: "warfarin5", class: "anticoagulant", rxnorm: "855332", display: "warfarin sodium 5 MG Oral Tablet", name: "warfarin", text: "warfarin 5 mg tablet", dose: "5", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD", extra: "in the evening"},
	{key: "nitroglycerin", class: "nitrate", rxnorm: "705129", display: "nitroglycerin 0.4 MG/ACTUAT Mucosal Spray", name: "nitroglycerin", text: "nitroglycerin 0.4 mg/spray sublingual spray", dose: "0.4", unit: "mg", ucum: "mg", form: "spray", perDose: 1, route: "sublingual", freq: "Q5MIN", prn: "chest pain"},
	{key: "metformin500", class: "metformin", rxnorm: "861007", display: "metformin hydrochloride 500 MG Oral Tablet", name: "metformin", text: "metformin 500 mg tablet", dose: "500", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "BID", extra: "with meals"},
	{key: "metforminER500", class: "metformin", rxnorm: "860975", display: "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", name: "metformin ER", text: "metformin ER 500 mg tablet", dose: "500", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD", extra: "with the evening meal"},
	{key: "insulin7030", class: "insulin", rxnorm: "106892", display: "insulin isophane, human 70 UNT/ML / insulin, regular, human 30 UNT/ML Injectable Suspension [Humulin]", name: "Humulin 70/30", text: "Humulin 70/30 insulin suspension", dose: "20", unit: "units", ucum: "[iU]", form: "units", perDose: 20, route: "subcut", freq: "BID", extra: "30 minutes before breakfast and dinner"},
	{key: "sertraline50", class: "ssri", rxnorm: "312941", display: "sertraline 50 MG Oral Tablet", name: "sertraline", text: "sertraline 50 mg tablet", dose: "50", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "escitalopram10", class: "ssri", rxnorm: "349332", display: "escitalopram 10 MG Oral Tablet", name: "escitalopram", text: "escitalopram 10 mg tablet", dose: "10", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "fluoxetine20", class: "ssri", rxnorm: "310385", display: "fluoxetine 20 MG Oral Capsule", name: "fluoxetine", text: "fluoxetine 20 mg capsule", dose: "20", unit: "mg", ucum: "mg", form: "capsule", perDose: 1, route: "oral", freq: "QAM"},
	{key: "trazodone50", class: "sedative", rxnorm: "856377", display: "trazodone hydrochloride 50 MG Oral Tablet", name: "trazodone", text: "trazodone 50 mg tablet", dose: "50", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QHS", prn: "insomnia"},
	{key: "levothyroxine50", class: "thyroid", rxnorm: "966222", display: "levothyroxine sodium 0.05 MG Oral Tablet", name: "levothyroxine", text: "levothyroxine 50 mcg tablet", dose: "50", unit: "mcg", ucum: "ug", form: "tablet", perDose: 1, route: "oral", freq: "QAM", extra: "on an empty stomach"},
	{key: "omeprazole20", class: "ppi", rxnorm: "198051", display: "omeprazole 20 MG Delayed Release Oral Capsule", name: "omeprazole", text: "omeprazole 20 mg delayed-release capsule", dose: "20", unit: "mg", ucum: "mg", form: "capsule", perDose: 1, route: "oral", freq: "QD", extra: "30 minutes before breakfast"},
	{key: "albuterolMDI", class: "saba", rxnorm: "745679", display: "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", name: "albuterol", text: "albuterol 90 mcg/actuation inhaler", dose: "2", unit: "puffs", ucum: "{puff}", form: "inhaler", perDose: 0, route: "inhaled", freq: "Q4H", prn: "wheezing or shortness of breath"},
	{key: "loratadine10", class: "antihistamine", rxnorm: "311372", display: "loratadine 10 MG Oral Tablet", name: "loratadine", text: "loratadine 10 mg tablet", dose: "10", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "acetaminophen325", class: "acetaminophen", rxnorm: "313782", display: "acetaminophen 325 MG Oral Tablet", name: "acetaminophen", text: "acetaminophen 325 mg tablet", dose: "650", unit: "mg", ucum: "mg", form: "tablet", perDose: 2, route: "oral", freq: "Q6H", prn: "pain or fever"},
	{key: "ibuprofen200", class: "nsaid", rxnorm: "310965", display: "ibuprofen 200 MG Oral Tablet", name: "ibuprofen", text: "ibuprofen 200 mg tablet", dose: "400", unit: "mg", ucum: "mg", form: "tablet", perDose: 2, route: "oral", freq: "Q6H", prn: "pain", extra: "with food"},
	{key: "naproxen220", class: "nsaid", rxnorm: "849574", display: "naproxen sodium 220 MG Oral Tablet", name: "naproxen", text: "naproxen sodium 220 mg tablet", dose: "220", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "BID", prn: "pain", extra: "with food"},
	{key: "gabapentin300", class: "gabapentinoid", rxnorm: "310431", display: "gabapentin 300 MG Oral Capsule", name: "gabapentin", text: "gabapentin 300 mg capsule", dose: "300", unit: "mg", ucum: "mg", form: "capsule", perDose: 1, route: "oral", freq: "TID"},
	{key: "ferrousSulfate325", class: "iron", rxnorm: "310325", display: "ferrous sulfate 325 MG Oral Tablet", name: "ferrous sulfate", text: "ferrous sulfate 325 mg tablet", dose: "325", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "alendronate10", class: "bisphosphonate", rxnorm: "904419", display: "alendronic acid 10 MG Oral Tablet", name: "alendronate", text: "alendronate 10 mg tablet", dose: "10", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QAM", extra: "with a full glass of water, 30 minutes before food"},
	{key: "allopurinol100", class: "xoi", rxnorm: "197319", display: "allopurinol 100 MG Oral Tablet", name: "allopurinol", text: "allopurinol 100 mg tablet", dose: "100", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD"},
	{key: "tamsulosin04", class: "alphablocker", rxnorm: "863669", display: "tamsulosin hydrochloride 0.4 MG Oral Capsule", name: "tamsulosin", text: "tamsulosin 0.4 mg capsule", dose: "0.4", unit: "mg", ucum: "mg", form: "capsule", perDose: 1, route: "oral", freq: "QHS"},
	{key: "amoxicillin500", class: "penicillin", rxnorm: "308192", display: "amoxicillin 500 MG Oral Tablet", name: "amoxicillin", text: "amoxicillin 500 mg tablet", dose: "500", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "BID", days: 10, penicil: true},
	{key: "penicillinV500", class: "penicillin", rxnorm: "834102", display: "penicillin V potassium 500 MG Oral Tablet", name: "penicillin V", text: "penicillin V potassium 500 mg tablet", dose: "500", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "BID", days: 10, penicil: true},
	{key: "azithromycin250", class: "macrolide", rxnorm: "308460", display: "azithromycin 250 MG Oral Tablet", name: "azithromycin", text: "azithromycin 250 mg tablet", dose: "250", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "QD", days: 5, extra: "after a first dose of 500 mg"},
	{key: "cephalexin500", class: "cephalosporin", rxnorm: "309114", display: "cephalexin 500 MG Oral Capsule", name: "cephalexin", text: "cephalexin 500 mg capsule", dose: "500", unit: "mg", ucum: "mg", form: "capsule", perDose: 1, route: "oral", freq: "QID", days: 7},
	{key: "nitrofurantoin50", class: "nitrofuran", rxnorm: "311995", display: "nitrofurantoin, macrocrystals 50 MG Oral Capsule", name: "nitrofurantoin", text: "nitrofurantoin macrocrystals 50 mg capsule", dose: "50", unit: "mg", ucum: "mg", form: "capsule", perDose: 1, route: "oral", freq: "QID", days: 7, extra: "with food"},
	{key: "phenazopyridine100", class: "urinary analgesic", rxnorm: "1094107", display: "phenazopyridine hydrochloride 100 MG Oral Tablet", name: "phenazopyridine", text: "phenazopyridine 100 mg tablet", dose: "100", unit: "mg", ucum: "mg", form: "tablet", perDose: 1, route: "oral", freq: "TID", days: 2, extra: "after meals"},
}

// drugByKey indexes drugs by key.
var drugByKey = func() map[string]*drug {
	m := make(map[string]*drug, len(drugs))
	for _, d := range drugs {
		m[d.key] = d
	}
	return m
}()

// measure is a quantitative observation type: a vital sign or a laboratory test.
type measure struct {
	key      string
	loinc    coding
	label    string // short label used in notes
	category string // observation-category code
	unit     string // unit as displayed
	ucum     string
	decimals int
	low      float64 // reference range; 0 when absent
	high     float64
}

func (m *measure) categoryDisplay() string {
	switch m.category {
	case "vital-signs":
		return "Vital Signs"
	case "laboratory":
		return "Laboratory"
	}
	return "Social History"
}

var (
	vitalBP  = &measure{key: "bp", loinc: coding{sysLOINC, "85354-9", "Blood pressure panel with all children optional"}, label: "BP", category: "vital-signs", unit: "mmHg", ucum: "mm[Hg]"}
	vitalSBP = coding{sysLOINC, "8480-6", "Systolic blood pressure"}
	vitalDBP = coding{sysLOINC, "8462-4", "Diastolic blood pressure"}

	vitalHR     = &measure{key: "hr", loinc: coding{sysLOINC, "8867-4", "Heart rate"}, label: "HR", category: "vital-signs", unit: "beats/minute", ucum: "/min"}
	vitalTemp   = &measure{key: "temp", loinc: coding{sysLOINC, "8310-5", "Body temperature"}, label: "Temp", category: "vital-signs", unit: "C", ucum: "Cel", decimals: 1}
	vitalRR     = &measure{key: "rr", loinc: coding{sysLOINC, "9279-1", "Respiratory rate"}, label: "RR", category: "vital-signs", unit: "breaths/minute", ucum: "/min"}
	vitalSpO2   = &measure{key: "spo2", loinc: coding{sysLOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"}, label: "SpO2", category: "vital-signs", unit: "%", ucum: "%"}
	vitalHeight = &measure{key: "height", loinc: coding{sysLOINC, "8302-2", "Body height"}, label: "Ht", category: "vital-signs", unit: "cm", ucum: "cm", decimals: 1}
	vitalWeight = &measure{key: "weight", loinc: coding{sysLOINC, "29463-7", "Body weight"}, label: "Wt", category: "vital-signs", unit: "kg", ucum: "kg", decimals: 2}
	vitalBMI    = &measure{key: "bmi", loinc: coding{sysLOINC, "39156-5", "Body mass index (BMI) [Ratio]"}, label: "BMI", category: "vital-signs", unit: "kg/m2", ucum: "kg/m2", decimals: 1}

	smokingStatus = coding{sysLOINC, "72166-2", "Tobacco smoking status"}
)

// labs holds the laboratory tests, keyed as in condition.labs.
var labs = map[string]*measure{
	"hba1c":         {key: "hba1c", loinc: coding{sysLOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"}, label: "HbA1c", category: "laboratory", unit: "%", ucum: "%", decimals: 1, high: 5.6},
	"glucose":       {key: "glucose", loinc: coding{sysLOINC, "2345-7", "Glucose [Mass/volume] in Serum or Plasma"}, label: "glucose", category: "laboratory", unit: "mg/dL", ucum: "mg/dL", low: 70, high: 99},
	"creatinine":    {key: "creatinine", loinc: coding{sysLOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"}, label: "creatinine", category: "laboratory", unit: "mg/dL", ucum: "mg/dL", decimals: 2, low: 0.6, high: 1.3},
	"cholesterol":   {key: "cholesterol", loinc: coding{sysLOINC, "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"}, label: "total cholesterol", category: "laboratory", unit: "mg/dL", ucum: "mg/dL", high: 199},
	"ldl":           {key: "ldl", loinc: coding{sysLOINC, "18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay"}, label: "LDL", category: "laboratory", unit: "mg/dL", ucum: "mg/dL", high: 99},
	"hdl":           {key: "hdl", loinc: coding{sysLOINC, "2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma"}, label: "HDL", category: "laboratory", unit: "mg/dL", ucum: "mg/dL", low: 40},
	"triglycerides": {key: "triglycerides", loinc: coding{sysLOINC, "2571-8", "Triglyceride [Mass/volume] in Serum or Plasma"}, label: "triglycerides", category: "laboratory", unit: "mg/dL", ucum: "mg/dL", high: 149},
	"tsh":           {key: "tsh", loinc: coding{sysLOINC, "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"}, label: "TSH", category: "laboratory", unit: "mIU/L", ucum: "m[IU]/L", decimals: 2, low: 0.4, high: 4.0},
	"hemoglobin":    {key: "hemoglobin", loinc: coding{sysLOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"}, label: "hemoglobin", category: "laboratory", unit: "g/dL", ucum: "g/dL", decimals: 1, low: 12.0, high: 17.5},
	"inr":           {key: "inr", loinc: coding{sysLOINC, "6301-6", "INR in Platelet poor plasma by Coagulation assay"}, label: "INR", category: "laboratory", unit: "INR", ucum: "{INR}", decimals: 1, low: 0.8, high: 1.1},
	"wbc":           {key: "wbc", loinc: coding{sysLOINC, "6690-2", "Leukocytes [#/volume] in Blood by Automated count"}, label: "WBC", category: "laboratory", unit: "10*3/uL", ucum: "10*3/uL", decimals: 1, low: 4.5, high: 11.0},
}

// labOrder fixes the order in which tests drawn at one visit are written.
var labOrder = []string{"hba1c", "glucose", "creatinine", "cholesterol", "ldl", "hdl", "triglycerides", "tsh", "hemoglobin", "inr", "wbc"}

// vaccine is an immunization given in clinic.
type vaccine struct {
	key    string
	cvx    coding
	name   string // as written in notes
	dose   string // mL
	lot    string // lot number prefix
	minAge int
	maxAge int // 0 for no limit
}

var vaccines = []*vaccine{
	{key: "flu", cvx: coding{sysCVX, "140", "Influenza, seasonal, injectable, preservative free"}, name: "influenza vaccine", dose: "0.5", lot: "FL"},
	{key: "covid", cvx: coding{sysCVX, "208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"}, name: "COVID-19 mRNA vaccine", dose: "0.3", lot: "EW"},
	{key: "tdap", cvx: coding{sysCVX, "115", "Tdap"}, name: "Tdap vaccine", dose: "0.5", lot: "TD"},
	{key: "zoster", cvx: coding{sysCVX, "187", "zoster vaccine recombinant"}, name: "recombinant zoster vaccine", dose: "0.5", lot: "ZR", minAge: 50},
	{key: "ppsv23", cvx: coding{sysCVX, "33", "pneumococcal polysaccharide vaccine, 23 valent"}, name: "pneumococcal polysaccharide vaccine (PPSV23)", dose: "0.5", lot: "PN", minAge: 65},
	{key: "hepb", cvx: coding{sysCVX, "43", "Hep B, adult"}, name: "hepatitis B vaccine", dose: "1", lot: "HB", minAge: 19, maxAge: 59},
}

// allergen is a substance a patient may react to.
type allergen struct {
	key       string
	code      coding
	text      string // as written in notes and in code.text
	category  string // food, medication or environment
	kind      string // allergy or intolerance
	reactions []string
	penicil   bool   // blocks penicillin-class antibiotics
	blocks    string // a drug name that must not be prescribed, "" for none
}

var allergens = []*allergen{
	{key: "penicillin", code: coding{sysRxNorm, "7984", "penicillin V"}, text: "penicillin", category: "medication", kind: "allergy", reactions: []string{"hives", "rash", "anaphylaxis"}, penicil: true},
	{key: "amoxicillin", code: coding{sysRxNorm, "723", "amoxicillin"}, text: "amoxicillin", category: "medication", kind: "allergy", reactions: []string{"rash", "hives"}, penicil: true},
	{key: "sulfa", code: coding{sysRxNorm, "10831", "sulfamethoxazole / trimethoprim"}, text: "sulfamethoxazole-trimethoprim", category: "medication", kind: "allergy", reactions: []string{"rash", "itching"}},
	{key: "codeine", code: coding{sysRxNorm, "2670", "codeine"}, text: "codeine", category: "medication", kind: "intolerance", reactions: []string{"nausea", "vomiting"}},
	{key: "aspirin", code: coding{sysRxNorm, "1191", "aspirin"}, text: "aspirin", category: "medication", kind: "allergy", reactions: []string{"hives", "angioedema"}, blocks: "aspirin"},
	{key: "lisinopril", code: coding{sysRxNorm, "29046", "lisinopril"}, text: "lisinopril", category: "medication", kind: "intolerance", reactions: []string{"cough", "angioedema"}, blocks: "lisinopril"},
	{key: "peanut", code: coding{sysSNOMED, "256349002", "Peanut - dietary (substance)"}, text: "peanuts", category: "food", kind: "allergy", reactions: []string{"anaphylaxis", "hives"}},
	{key: "treenut", code: coding{sysSNOMED, "442571000124108", "Tree nut (substance)"}, text: "tree nuts", category: "food", kind: "allergy", reactions: []string{"hives", "angioedema"}},
	{key: "shellfish", code: coding{sysSNOMED, "300913006", "Shellfish (substance)"}, text: "shellfish", category: "food", kind: "allergy", reactions: []string{"hives", "vomiting", "anaphylaxis"}},
	{key: "egg", code: coding{sysSNOMED, "102263004", "Eggs (edible) (substance)"}, text: "eggs", category: "food", kind: "allergy", reactions: []string{"rash", "vomiting"}},
	{key: "latex", code: coding{sysSNOMED, "111088007", "Latex (substance)"}, text: "latex", category: "environment", kind: "allergy", reactions: []string{"rash", "itching"}},
	{key: "bee", code: coding{sysSNOMED, "288328004", "Bee venom (substance)"}, text: "bee stings", category: "environment", kind: "allergy", reactions: []string{"anaphylaxis", "hives"}},
	{key: "dander", code: coding{sysSNOMED, "264287008", "Animal dander (substance)"}, text: "cat dander", category: "environment", kind: "allergy", reactions: []string{"sneezing", "rhinoconjunctivitis"}},
	{key: "grass", code: coding{sysSNOMED, "256277009", "Grass pollen (substance)"}, text: "grass pollen", category: "environment", kind: "allergy", reactions: []string{"sneezing", "rhinoconjunctivitis"}},
	{key: "dustmite", code: coding{sysSNOMED, "260147004", "House dust mite (organism)"}, text: "dust mites", category: "environment", kind: "allergy", reactions: []string{"sneezing", "cough"}},
}

// reaction is an allergic or intolerance manifestation.
type reaction struct {
	code     coding
	text     string
	severity string
}

var reactions = map[string]reaction{
	"hives":               {coding{sysSNOMED, "247472004", "Wheal (finding)"}, "hives", "moderate"},
	"rash":                {coding{sysSNOMED, "271807003", "Eruption of skin (disorder)"}, "rash", "mild"},
	"anaphylaxis":         {coding{sysSNOMED, "39579001", "Anaphylaxis (disorder)"}, "anaphylaxis", "severe"},
	"angioedema":          {coding{sysSNOMED, "41291007", "Angioedema (disorder)"}, "lip and tongue swelling", "severe"},
	"itching":             {coding{sysSNOMED, "418290006", "Itching (finding)"}, "itching", "mild"},
	"nausea":              {coding{sysSNOMED, "422587007", "Nausea (finding)"}, "nausea", "mild"},
	"vomiting":            {coding{sysSNOMED, "422400008", "Vomiting (disorder)"}, "vomiting", "moderate"},
	"cough":               {coding{sysSNOMED, "49727002", "Cough (finding)"}, "dry cough", "mild"},
	"sneezing":            {coding{sysSNOMED, "76067001", "Sneezing (finding)"}, "sneezing", "mild"},
	"rhinoconjunctivitis": {coding{sysSNOMED, "878820003", "Rhinoconjunctivitis (disorder)"}, "itchy, watery eyes and runny nose", "mild"},
}

// Encounter types and classes.
var (
	encCheckup  = coding{sysSNOMED, "185349003", "Encounter for check up (procedure)"}
	encFollowUp = coding{sysSNOMED, "390906007", "Follow-up encounter (procedure)"}
	encSymptom  = coding{sysSNOMED, "185345009", "Encounter for symptom (procedure)"}
	encER       = coding{sysSNOMED, "50849002", "Emergency room admission (procedure)"}
	encAdmit    = coding{sysSNOMED, "32485007", "Hospital admission (procedure)"}

	classCodes = map[string]coding{
		"AMB":  {sysActCode, "AMB", "ambulatory"},
		"EMER": {sysActCode, "EMER", "emergency"},
		"IMP":  {sysActCode, "IMP", "inpatient encounter"},
	}
)

// Smoking status answers (LOINC 72166-2).
var smokingCodes = []coding{
	{sysSNOMED, "266919005", "Never smoked tobacco (finding)"},
	{sysSNOMED, "8517006", "Ex-smoker (finding)"},
	{sysSNOMED, "449868002", "Smokes tobacco daily (finding)"},
}

// Document types.
var (
	docProgressNote     = coding{sysLOINC, "11506-3", "Progress note"}
	docDischargeSummary = coding{sysLOINC, "18842-5", "Discharge summary"}
)
