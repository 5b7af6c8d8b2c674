package nlp

import "strings"

// The curated lists: one line per concept, "code|trait|phrase; phrase; ^ABBR". A phrase marked ^
// matches only when written in upper case (MI, PE, RA are words too). A code of "-" leaves the
// ranking to the ICD-10-CM index. Codes are ICD-10-CM FY2019 (the tests check each exists).
const curatedConditions = `
I10|D|hypertension; high blood pressure; essential hypertension; ^HTN
E11.9|D|type 2 diabetes; type 2 diabetes mellitus; type ii diabetes; diabetes mellitus type 2; diabetes type 2; ^DM2; ^T2DM; ^DMII; ^NIDDM; diabetes; diabetes mellitus; ^DM
E10.9|D|type 1 diabetes; type 1 diabetes mellitus; diabetes mellitus type 1; ^DM1; ^T1DM; ^IDDM
R73.03|D|prediabetes; pre-diabetes
J44.9|D|chronic obstructive pulmonary disease; chronic obstructive lung disease; ^COPD
I50.9|D|heart failure; congestive heart failure; ^CHF
I21.9|D|myocardial infarction; acute myocardial infarction; heart attack; ^MI; ^AMI; ^STEMI; ^NSTEMI
I25.10|D|coronary artery disease; ^CAD
I48.91|D|atrial fibrillation; afib; a-fib; ^AF
I49.9|D|arrhythmia; cardiac arrhythmia
N18.9|D|chronic kidney disease; ^CKD
N18.6|D|end stage renal disease; ^ESRD
N17.9|D|acute kidney injury; acute renal failure; ^AKI
N39.0|D|urinary tract infection; ^UTI
K21.9|D|gastroesophageal reflux disease; ^GERD; acid reflux
I82.409|D|deep vein thrombosis; ^DVT
I26.99|D|pulmonary embolism; ^PE
I63.9|D|stroke; cerebrovascular accident; ^CVA
G45.9|D|transient ischemic attack; ^TIA
G47.33|D|obstructive sleep apnea; sleep apnea; ^OSA
E78.5|D|hyperlipidemia; dyslipidemia; high cholesterol; ^HLD
E78.00|D|hypercholesterolemia
N40.0|D|benign prostatic hyperplasia; ^BPH
M06.9|D|rheumatoid arthritis; ^RA
M19.90|D|osteoarthritis; ^OA
J18.9|D|pneumonia; ^PNA
J06.9|D|upper respiratory infection; upper respiratory tract infection; ^URI
J45.909|D|asthma
F32.9|D|depression; major depression; major depressive disorder; ^MDD
F41.9|D|anxiety; anxiety disorder
F41.1|D|generalized anxiety disorder; ^GAD
E03.9|D|hypothyroidism
E05.90|D|hyperthyroidism
E66.9|D|obesity
D64.9|D|anemia; anaemia
D50.9|D|iron deficiency anemia
G40.909|D|epilepsy; seizure disorder
G43.909|D|migraine
J20.9|D|acute bronchitis
J40|D|bronchitis
J01.90|D|acute sinusitis
-|D|sinusitis; viral sinusitis
J02.9|D|pharyngitis
J02.0|D|streptococcal pharyngitis; strep throat
K35.80|D|appendicitis
K80.20|D|gallstones; cholelithiasis
N20.0|D|kidney stone; nephrolithiasis
C50.919|D|breast cancer
C34.90|D|lung cancer
C61|D|prostate cancer
C18.9|D|colon cancer
M81.0|D|osteoporosis
D69.6|D|thrombocytopenia
E87.1|D|hyponatremia
E87.6|D|hypokalemia
E87.5|D|hyperkalemia
E86.0|D|dehydration
J96.90|D|respiratory failure
A41.9|D|sepsis
J30.9|D|allergic rhinitis; hay fever
L30.9|D|dermatitis; eczema
F90.9|D|attention deficit hyperactivity disorder; ^ADHD
F03.90|D|dementia
G30.9|D|alzheimer's disease; alzheimer disease
G20|D|parkinson's disease; parkinson disease
I73.9|D|peripheral vascular disease; peripheral artery disease; ^PVD; ^PAD
I35.0|D|aortic stenosis
K74.60|D|cirrhosis
K85.90|D|pancreatitis
K29.70|D|gastritis
E55.9|D|vitamin d deficiency
A09|D|gastroenteritis
B34.9|D|viral infection
J98.11|D|atelectasis
J90|D|pleural effusion
S06.0X0A|D|concussion
I95.9|S|hypotension
R00.0|S|tachycardia
R00.1|S|bradycardia
R06.2|S|wheezing; wheeze
R60.9|S|edema; oedema
R17|S|jaundice
R01.1|S|heart murmur; murmur
R23.0|S|cyanosis
R59.9|S|lymphadenopathy; enlarged lymph nodes
R16.0|S|hepatomegaly
R16.1|S|splenomegaly
R09.02|S|hypoxemia; hypoxia
-|S|crackles; rales; tenderness; swelling; erythema
R50.9|Y|fever; pyrexia; febrile
R05|Y|cough
R06.02|Y|shortness of breath; short of breath; ^SOB
R06.00|Y|dyspnea; dyspnoea
R07.9|Y|chest pain
R10.9|Y|abdominal pain; stomach pain; belly pain
R51|Y|headache
R53.83|Y|fatigue; tiredness
R42|Y|dizziness; dizzy; lightheadedness; vertigo
R00.2|Y|palpitations
R53.1|Y|weakness
R20.0|Y|numbness
R21|Y|rash
L29.9|Y|itching; pruritus
R07.0|Y|sore throat; throat pain
M54.5|Y|low back pain; lower back pain; ^LBP
M54.9|Y|back pain
M25.50|Y|joint pain; arthralgia
M79.10|Y|myalgia; muscle pain; muscle aches
R63.4|Y|weight loss
R63.0|Y|loss of appetite
R63.1|Y|thirst; excessive thirst; polydipsia
R35.0|Y|frequent urination; urinary frequency
R35.8|Y|polyuria
R63.2|Y|polyphagia; excessive hunger
-|Y|hunger
R11.0|Y|nausea
R11.10|Y|vomiting; emesis
R11.2|Y|nausea and vomiting
R19.7|Y|diarrhea; diarrhoea
K59.00|Y|constipation
R52|Y|pain
R68.83|Y|chills
R61|Y|night sweats; sweating
R13.10|Y|dysphagia; difficulty swallowing
R31.9|Y|hematuria
R04.0|Y|epistaxis; nosebleed
R09.81|Y|nasal congestion
H53.8|Y|blurred vision; blurry vision
G47.00|Y|insomnia
R41.0|Y|confusion; disorientation
R55|Y|syncope; fainting
R45.851|Y|suicidal ideation
N94.6|Y|dysmenorrhea
`

const curatedTests = `
blood pressure; ^BP; systolic blood pressure; diastolic blood pressure; heart rate; pulse; ^HR; temperature; temp
respiratory rate; ^RR; oxygen saturation; o2 sat; o2 saturation; ^SPO2; ^SAO2; pulse oximetry
hemoglobin a1c; hba1c; ^A1C; glycated hemoglobin; glucose; blood glucose; blood sugar; fasting glucose
creatinine; serum creatinine; egfr; ^GFR; ^BUN; blood urea nitrogen; sodium; potassium; chloride; bicarbonate; calcium; magnesium
ldl; ldl cholesterol; hdl; hdl cholesterol; total cholesterol; cholesterol; triglycerides
hemoglobin; ^HGB; hematocrit; ^HCT; white blood cell count; ^WBC; platelet count; platelets; ^INR; ^TSH; free t4
^CBC; complete blood count; ^BMP; basic metabolic panel; ^CMP; comprehensive metabolic panel; lipid panel
urinalysis; ^UA; urine culture; blood culture; troponin; ^BNP; ^ALT; ^AST; alkaline phosphatase; bilirubin; albumin
^PSA; vitamin d level; ferritin; weight; body weight; height; body height; ^BMI; body mass index; pain severity
chest x-ray; ^CXR; x-ray; radiograph; ct scan; ^CT; computed tomography; ^MRI; magnetic resonance imaging; ultrasound
echocardiogram; ^ECG; ^EKG; electrocardiogram; mammogram; mammography; pap smear; rapid strep test; ejection fraction
^EF; peak flow; spirometry; pulmonary function test; ^PFT; stress test; ^PHQ-9; ^PHQ-2; ^GAD-7
`

const curatedProcedures = `
colonoscopy; endoscopy; upper endoscopy; ^EGD; appendectomy; cholecystectomy; hysterectomy; mastectomy
dialysis; hemodialysis; renal dialysis; chemotherapy; radiation therapy; radiotherapy; combined chemotherapy and radiation therapy
biopsy; surgery; kidney transplant; transplant; transplantation; intubation; cardiac catheterization; angioplasty; ^PCI; ^CABG
coronary artery bypass graft; hearing examination; physical therapy; vaccination; immunization; cesarean section; c-section
knee replacement; hip replacement; total knee replacement; total hip replacement; tonsillectomy; sutures; suture; laceration repair
wound care; blood transfusion; transfusion; catheterization; amputation; cardioversion; lumbar puncture; thoracentesis
paracentesis; bronchoscopy; physical examination; medication reconciliation; depression screening; counseling; nebulizer treatment
`

const curatedAnatomy = `
head; neck; chest; abdomen; back; heart; lung; liver; kidney; brain; skin; arm; leg; knee; hip; shoulder; elbow; wrist
ankle; foot; feet; hand; finger; toe; eye; ear; nose; mouth; throat; tongue; tooth; teeth; stomach; colon; bowel; intestine
small intestine; large intestine; rectum; bladder; urinary bladder; spine; lumbar spine; cervical spine; thoracic spine; thigh
breast; prostate; uterus; ovary; cervix; pancreas; thyroid; gallbladder; spleen; esophagus; lymph node; artery; vein; aorta
coronary artery; bone; muscle; joint; pelvis; groin; face; forehead; jaw; scalp; lower extremity; upper extremity; extremity
left ventricle; right ventricle; atrium; chest wall; sinus; tonsil; appendix; trachea; bronchus; urethra; retina; cornea
abdominal wall; calf; buttock; heel; lip; gums; sternum; rib; clavicle; femur; tibia; fibula; humerus; radius; ulna; skull
`

var curatedTraits = map[string]string{"D": TraitDiagnosis, "S": TraitSign, "Y": TraitSymptom}

// addCurated adds the curated lists to terms.
func addCurated(terms *trie) {
	for _, line := range strings.Split(strings.TrimSpace(curatedConditions), "\n") {
		f := strings.SplitN(line, "|", 3)
		code := f[0]
		if code == "-" {
			code = ""
		}
		addPhrases(terms, f[2], entry{category: MedicalCondition, typ: "DX_NAME", trait: curatedTraits[f[1]], code: code, score: 0.95})
	}
	addList(terms, curatedTests, entry{category: TestTreatmentProcedure, typ: "TEST_NAME", score: 0.95})
	addList(terms, curatedProcedures, entry{category: TestTreatmentProcedure, typ: "PROCEDURE_NAME", score: 0.95})
	addList(terms, curatedAnatomy, entry{category: Anatomy, typ: "SYSTEM_ORGAN_SITE", score: 0.9})
}

func addList(terms *trie, list string, e entry) {
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		addPhrases(terms, line, e)
	}
}

// addPhrases adds each phrase of "phrase; phrase; ^ABBR" as e; the first phrase is the concept's
// canonical name, whose words rank its ICD-10-CM codes.
func addPhrases(terms *trie, phrases string, e entry) {
	var canon []string
	for _, p := range strings.Split(phrases, ";") {
		p = strings.TrimSpace(p)
		e := e
		if strings.HasPrefix(p, "^") {
			p, e.upper = p[1:], true
		}
		ws := words(p)
		if canon == nil {
			canon = ws
		}
		e.key = canon
		terms.add(ws, e)
	}
}
