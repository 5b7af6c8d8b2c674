package demo

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file writes the sections of a note, from the chief complaint to the plan.

func (n *note) chiefComplaint() {
	e := n.e
	n.heading("cc")
	switch {
	case e.acute != nil:
		n.line(n.fill(pick(n.r, e.acute.cond.complaint), e.acute))
	case e.kind == "checkup" && e.n == 1:
		n.line(pick(n.r, []string{"New patient visit to establish care.", "Annual physical examination.", "Establish care and yearly physical."}))
	case e.kind == "checkup":
		n.line(pick(n.r, []string{"Annual physical examination.", "Here for yearly wellness visit.", "Routine preventive visit."}))
	default:
		names := problemNames(n.existing)
		if len(names) > 3 {
			names = names[:3]
		}
		switch n.r.IntN(3) {
		case 0:
			n.line("Follow-up of " + join(names, "and") + ".")
		case 1:
			n.line("Routine follow-up for " + join(names, "and") + ".")
		default:
			n.line("Medication refill and follow-up of chronic conditions.")
		}
	}
}

// opening is the first sentence of the history of present illness.
func (n *note) opening() string {
	p, e := n.p, n.e
	man, male := "man", "male"
	if p.gender == "female" {
		man, male = "woman", "female"
	}
	var reason string
	switch {
	case e.acute != nil:
		reason = "evaluation of " + e.acute.cond.symptoms[0]
	case e.kind == "checkup":
		reason = pick(n.r, []string{"an annual physical examination", "a preventive care visit"})
	default:
		reason = pick(n.r, []string{"routine follow-up of chronic conditions", "follow-up and medication refills"})
	}
	history := "no significant past medical history"
	if names := problemNames(n.existing); len(names) > 0 {
		history = "a history of " + join(names, "and")
	}
	switch n.style {
	case styleTitle:
		return fmt.Sprintf("%s is a pleasant %d-year-old %s with %s, seen today for %s.", p.title(), n.age, man, history, reason)
	case styleTerse:
		history = strings.Replace(history, "a history of ", "PMH of ", 1)
		return fmt.Sprintf("%d y/o %s with %s presenting for %s.", n.age, male, history, reason)
	}
	verb := "presents for"
	switch e.class {
	case "EMER":
		verb = "presents to the emergency department for"
	case "IMP":
		verb = "was admitted for"
	}
	return fmt.Sprintf("%s is %s %d-year-old %s with %s who %s %s.", p.displayName(), ageArticle(n.age), n.age, man, history, verb, reason)
}

func (n *note) hpi() {
	p, e := n.p, n.e
	n.heading("hpi")
	s := []string{n.opening()}
	switch {
	case e.acute != nil:
		c := e.acute.cond
		s = append(s, n.fill(pick(n.r, c.hpi), e.acute))
		if len(c.denies) > 0 {
			s = append(s, n.rep.Replace("{He} denies ")+join(c.denies, "or")+".")
		}
		if chance(n.r, 0.4) {
			s = append(s, n.rep.Replace("{He} tried over-the-counter remedies at home with minimal relief."))
		}
		if len(n.existing) > 0 {
			s = append(s, n.rep.Replace(pick(n.r, []string{
				"Chronic conditions have otherwise been stable.",
				"{He} has been taking {his} usual medications without problems.",
			})))
		}
	default:
		if e.kind == "checkup" {
			s = append(s, n.rep.Replace(pick(n.r, []string{
				"{He} feels well and has no acute complaints.",
				"{He} reports feeling generally well.",
			})))
		}
		shown := 0
		for _, pr := range n.existing {
			if shown == 3 || len(pr.cond.hpi) == 0 {
				continue
			}
			if t := n.fill(pick(n.r, pr.cond.hpi), pr); t != "" {
				s = append(s, t)
				shown++
			}
		}
		var denies []string
		for _, pr := range n.existing {
			for _, d := range pr.cond.denies {
				if !n.positives[d] && !slices.Contains(denies, d) {
					denies = append(denies, d)
				}
			}
		}
		if len(denies) > 0 {
			if len(denies) > 4 {
				n.r.Shuffle(len(denies), func(i, j int) { denies[i], denies[j] = denies[j], denies[i] })
				denies = denies[:4]
			}
			s = append(s, pick(n.r, []string{"Denies ", "{He} denies ", "No "})+join(denies, "or")+".")
		}
		if len(n.newChronic) > 0 {
			s = append(s, n.rep.Replace("{He} also raises a new concern today, discussed below."))
		}
		if e.kind == "checkup" {
			s = append(s, n.rep.Replace(pick(n.r, []string{
				"{He} exercises two to three times a week and follows a balanced diet.",
				"{He} walks most days but admits to a diet high in processed foods.",
				"Exercise is limited by a busy work schedule.",
			})))
		}
	}
	for _, prev := range p.problems {
		if !prev.cond.chronic && prev.enc.n < e.n && !prev.abatement.IsZero() && prev.abatement.Before(e.start) {
			s = append(s, n.rep.Replace(fmt.Sprintf("{He} was treated for %s on %s, which has since resolved.",
				prev.cond.name, prev.enc.start.Format("January 2, 2006"))))
			break
		}
	}
	if p.language.code != "" {
		s = append(s, fmt.Sprintf("History obtained with the assistance of a %s medical interpreter.", p.language.display))
	}
	n.line(n.rep.Replace(strings.Join(nonEmpty(s), " ")))
}

func (n *note) pmh() {
	n.heading("pmh")
	var items []string
	for _, pr := range n.existing {
		items = append(items, fmt.Sprintf("%s, diagnosed %d", capitalize(pr.cond.name), pr.onset.Year()))
	}
	for _, prev := range n.p.problems {
		if !prev.cond.chronic && prev.enc.n < n.e.n && n.style != styleTerse {
			items = append(items, fmt.Sprintf("History of %s (%d), resolved", prev.cond.name, prev.enc.start.Year()))
		}
	}
	switch {
	case len(items) == 0:
		n.line(pick(n.r, []string{"No significant past medical history.", "None."}))
	case n.style == styleUpper:
		for i, it := range items {
			n.line(fmt.Sprintf("%d. %s.", i+1, it))
		}
	case n.style == styleTitle:
		for _, it := range items {
			n.line("- " + it)
		}
	default:
		n.line(strings.Join(items, "; ") + ".")
	}
	if len(n.p.surgeries) > 0 {
		n.heading("psh")
		for _, s := range n.p.surgeries {
			n.line(s)
		}
	}
}

// medPhrase writes a medication with dose, route and frequency in the note's
// style, e.g. "metformin 500 mg PO BID with meals".
func (n *note) medPhrase(rx *prescription, withCourse bool) string {
	d := rx.drug
	f := frequencies[d.freq]
	rt := routes[d.route]
	label := d.name
	if d.key == "albuterolMDI" {
		label = "albuterol HFA 90 mcg/actuation,"
	}
	dose := d.dose + " " + d.unit
	if n.style == styleTerse && d.unit == "mg" {
		dose = d.dose + "mg"
	}
	var s string
	if n.style == styleTitle {
		s = label + " " + dose + " " + rt.text + " " + f.text
		if d.prn != "" {
			s += " as needed for " + d.prn
		}
	} else {
		s = label + " " + dose + " " + rt.abbr + " " + f.abbr
		if d.prn != "" {
			s += " PRN " + d.prn
		}
	}
	if d.extra != "" && n.style != styleTerse {
		s += " " + d.extra
	}
	if withCourse && rx.days > 0 {
		if n.style == styleTitle {
			s += fmt.Sprintf(" for %d days", rx.days)
		} else {
			s += fmt.Sprintf(" x %d days", rx.days)
		}
	}
	return s
}

func (n *note) medList(list []*prescription) {
	if len(list) == 0 {
		n.line(pick(n.r, []string{"No current medications.", "None."}))
		return
	}
	for i, rx := range list {
		switch n.style {
		case styleUpper:
			n.line(fmt.Sprintf("%d. %s", i+1, n.medPhrase(rx, false)))
		default:
			n.line("- " + n.medPhrase(rx, false))
		}
	}
}

func (n *note) allergies() {
	n.heading("allergies")
	if len(n.p.allergies) == 0 {
		n.line(pick(n.r, []string{"No known drug allergies.", "NKDA.", "No known allergies."}))
		return
	}
	var items []string
	for _, a := range n.p.allergies {
		if a.a.kind == "intolerance" {
			items = append(items, fmt.Sprintf("%s (intolerance: %s)", capitalize(a.a.text), a.reaction.text))
		} else {
			items = append(items, fmt.Sprintf("%s (%s)", capitalize(a.a.text), a.reaction.text))
		}
	}
	n.line(strings.Join(items, "; ") + ".")
}

func (n *note) familyHistory() {
	n.heading("fh")
	if n.style == styleUpper {
		for _, f := range n.p.familyHx {
			n.line(f)
		}
		return
	}
	n.line(strings.Join(n.p.familyHx, " "))
}

func (n *note) socialHistory() {
	p := n.p
	n.heading("sh")
	var s []string
	switch p.smoking {
	case 0:
		s = append(s, pick(n.r, []string{"Never smoker.", "Never smoked tobacco."}))
	case 1:
		s = append(s, fmt.Sprintf("Former smoker, quit in %d (%d pack-years).", p.quitYear, p.packYears))
	default:
		s = append(s, fmt.Sprintf("Current smoker, about %s per day (%d pack-years).",
			pick(n.r, []string{"half a pack", "one pack", "10 cigarettes"}), p.packYears))
	}
	s = append(s, p.alcohol, "Denies illicit drug use.", p.occupation, p.livesWith)
	n.line(strings.Join(s, " "))
}

func (n *note) ros() {
	n.heading("ros")
	if n.style == styleTerse {
		var neg []string
		for _, sys := range rosSystems {
			if sys.always {
				for _, sym := range sys.symptoms[:2] {
					if !n.positives[sym] {
						neg = append(neg, sym)
					}
				}
			}
		}
		n.line("Negative except as noted in HPI. Specifically denies " + join(neg, "and") + ".")
		return
	}
	var lines []string
	for _, sys := range rosSystems {
		if !sys.always && !chance(n.r, 0.45) {
			continue
		}
		var pos, neg []string
		for _, sym := range sys.symptoms {
			if n.positives[sym] {
				pos = append(pos, sym)
			} else {
				neg = append(neg, sym)
			}
		}
		var t string
		switch {
		case len(pos) > 0 && len(neg) > 0:
			t = fmt.Sprintf("Positive for %s; negative for %s.", join(pos, "and"), join(neg, "or"))
		case len(pos) > 0:
			t = fmt.Sprintf("Positive for %s.", join(pos, "and"))
		default:
			t = pick(n.r, []string{"Negative for ", "Denies ", "No "}) + join(neg, "or") + "."
		}
		lines = append(lines, sys.name+": "+t)
	}
	for _, l := range lines {
		n.line(l)
	}
	if chance(n.r, 0.5) {
		n.line("All other systems reviewed and negative.")
	}
}

// examDefaults are the normal findings written unless a problem's own
// finding for the same region replaces them.
var examDefaults = []struct{ region, text string }{
	{"General", "Well-appearing, in no acute distress."},
	{"HEENT", "Normocephalic, atraumatic. Oropharynx clear."},
	{"Neck", "Supple, no lymphadenopathy."},
	{"Heart", "Regular rate and rhythm, no murmurs."},
	{"Lungs", "Clear to auscultation bilaterally; no wheezes, rales, or rhonchi."},
	{"Abdomen", "Soft, non-tender, non-distended."},
	{"Extremities", "No edema."},
	{"Skin", "Warm and dry, no rashes."},
	{"Neuro", "Alert and oriented, no focal deficits."},
}

// examRegion maps the region a problem's finding starts with to the default
// it replaces.
var examRegion = map[string]string{
	"Oropharynx": "HEENT", "Ears": "HEENT", "Nose": "HEENT",
	"Left lower extremity": "Extremities",
}

func (n *note) exam() {
	e, v := n.e, n.e.vitals
	n.heading("pe")
	vit := []string{fmt.Sprintf("BP %d/%d", v.sbp, v.dbp)}
	switch n.style {
	case styleUpper:
		vit = []string{fmt.Sprintf("BP %d/%d mmHg", v.sbp, v.dbp), fmt.Sprintf("HR %d", v.hr), fmt.Sprintf("Temp %.1f C", v.temp)}
	case styleTitle:
		vit = append(vit, fmt.Sprintf("HR %d bpm", v.hr), fmt.Sprintf("T %.1f C", v.temp))
	default:
		vit = append(vit, fmt.Sprintf("P %d", v.hr), fmt.Sprintf("T %.1f", v.temp))
	}
	if v.rr > 0 {
		vit = append(vit, fmt.Sprintf("RR %d", v.rr), fmt.Sprintf("SpO2 %d%% on room air", v.spo2))
	}
	if v.height > 0 {
		vit = append(vit, fmt.Sprintf("Ht %.1f cm", v.height))
	}
	vit = append(vit, fmt.Sprintf("Wt %.2f kg", v.weight), fmt.Sprintf("BMI %.1f kg/m2", v.bmi))
	sep := ", "
	if n.style == styleTitle {
		sep = " | "
	}
	n.line("Vitals: " + strings.Join(vit, sep) + ".")

	var findings []string
	if e.acute != nil {
		findings = append(findings, e.acute.cond.exam...)
	} else {
		for _, pr := range append(slices.Clip(n.existing), n.newChronic...) {
			findings = append(findings, pr.cond.exam...)
		}
	}
	used := map[string]bool{}
	replaced := map[string]string{}
	var extra []string
	for _, f := range findings {
		region, rest, _ := strings.Cut(f, ": ")
		f = region + ": " + capitalize(rest)
		target := region
		if t, ok := examRegion[region]; ok {
			target = t
		}
		if used[target] {
			continue
		}
		used[target] = true
		if slices.ContainsFunc(examDefaults, func(d struct{ region, text string }) bool { return d.region == target }) {
			replaced[target] = f
		} else {
			extra = append(extra, f)
		}
	}
	general := examDefaults[0].text
	if e.acute != nil && e.class != "AMB" {
		general = "Appears uncomfortable but in no acute distress."
	}
	for _, d := range examDefaults {
		switch {
		case d.region == "General":
			n.line("General: " + general)
		case replaced[d.region] != "":
			n.line(replaced[d.region])
		case d.region == "Skin" || d.region == "Neuro":
			if n.style == styleUpper {
				n.line(d.region + ": " + d.text)
			}
		default:
			n.line(d.region + ": " + d.text)
		}
	}
	for _, f := range extra {
		n.line(f)
	}
}

func (n *note) labs() {
	if len(n.e.labs) == 0 {
		return
	}
	n.heading("labs")
	var items []string
	for _, lv := range n.e.labs {
		flag := ""
		switch {
		case lv.high > 0 && lv.value > lv.high:
			flag = " (H)"
		case lv.low > 0 && lv.value < lv.low:
			flag = " (L)"
		}
		unit := " " + lv.m.unit
		switch lv.m.unit {
		case "%":
			unit = "%"
		case lv.m.label:
			unit = ""
		}
		items = append(items, fmt.Sprintf("%s %s%s%s", lv.m.label, decimal(lv.value, lv.m.decimals), unit, flag))
	}
	n.line(capitalize(strings.Join(items, ", ")) + ".")
}

// lab returns the value of a test drawn at this visit.
func (n *note) lab(key string) (labValue, bool) {
	for _, lv := range n.e.labs {
		if lv.m.key == key {
			return lv, true
		}
	}
	return labValue{}, false
}

// status summarizes how a long-standing problem is doing, from today's data.
func (n *note) status(pr *problem) string {
	v := n.e.vitals
	fresh := pr.enc == n.e && n.e.n > 1
	switch pr.cond.key {
	case "htn":
		if v.sbp < 135 && v.dbp < 85 {
			return fmt.Sprintf("Well controlled today at %d/%d.", v.sbp, v.dbp)
		}
		return fmt.Sprintf("Above goal today at %d/%d; will review home readings.", v.sbp, v.dbp)
	case "t2dm", "prediabetes":
		if lv, ok := n.lab("hba1c"); ok {
			if fresh {
				return fmt.Sprintf("Hemoglobin A1c %s%% today.", decimal(lv.value, 1))
			}
			if lv.value < 7 {
				return fmt.Sprintf("Hemoglobin A1c %s%% today.", decimal(lv.value, 1))
			}
			return fmt.Sprintf("Not at goal with hemoglobin A1c of %s%%; reinforced diet and adherence.", decimal(lv.value, 1))
		}
	case "hld", "cad":
		if lv, ok := n.lab("ldl"); ok {
			return fmt.Sprintf("LDL %s mg/dL today.", decimal(lv.value, 0))
		}
	case "hypothyroid":
		if lv, ok := n.lab("tsh"); ok {
			if fresh {
				return fmt.Sprintf("TSH elevated at %s mIU/L.", decimal(lv.value, 2))
			}
			if lv.value > lv.high {
				return fmt.Sprintf("TSH mildly elevated at %s mIU/L; will increase the dose if still elevated on recheck.", decimal(lv.value, 2))
			}
			return fmt.Sprintf("TSH %s mIU/L, within the reference range.", decimal(lv.value, 2))
		}
	case "ida":
		if lv, ok := n.lab("hemoglobin"); ok {
			return fmt.Sprintf("Hemoglobin %s g/dL today.", decimal(lv.value, 1))
		}
	case "afib":
		if lv, ok := n.lab("inr"); ok {
			return fmt.Sprintf("Rate controlled; INR %s today.", decimal(lv.value, 1))
		}
	case "obesity":
		return fmt.Sprintf("BMI %.1f kg/m2 today.", v.bmi)
	}
	if len(n.medsFor(pr)) == 0 {
		return pick(n.r, []string{"Stable.", "Doing well.", "Unchanged since the last visit."})
	}
	return pick(n.r, []string{"Stable.", "Stable on the current regimen.", "Doing well.", "Well controlled."})
}

// plan writes the numbered assessment and plan. inpatient leaves out the
// clinic follow-up, which the discharge instructions cover.
func (n *note) plan(inpatient bool) {
	p, e := n.p, n.e
	var items []string
	started := func(pr *problem) string {
		var meds []string
		for _, rx := range e.started {
			if rx.problem == pr {
				meds = append(meds, n.medPhrase(rx, true))
			}
		}
		if len(meds) == 0 {
			return ""
		}
		return "Start " + join(meds, "and") + "."
	}
	if a := e.acute; a != nil {
		s := []string{capitalize(a.cond.name) + ": " + n.fill(pick(n.r, a.cond.assess), a)}
		if inpatient {
			s = append(s, "Discharge on oral therapy.")
		}
		s = append(s, started(a), n.fill(pick(n.r, a.cond.plan), a))
		items = append(items, strings.Join(nonEmpty(s), " "))
	}
	for _, pr := range n.newChronic {
		s := []string{capitalize(pr.cond.name) + ", new diagnosis: " + n.status(pr) + " Discussed the diagnosis and treatment options.", started(pr)}
		if len(pr.cond.plan) > 0 {
			s = append(s, n.fill(pick(n.r, pr.cond.plan), pr))
		}
		items = append(items, strings.Join(nonEmpty(s), " "))
	}
	for _, pr := range n.existing {
		s := []string{capitalize(pr.cond.name) + ": " + n.status(pr)}
		var meds []string
		for _, rx := range n.medsFor(pr) {
			if rx.enc != e || e.n == 1 {
				meds = append(meds, n.medPhrase(rx, false))
			}
		}
		if len(meds) > 0 {
			s = append(s, "Continue "+join(meds, "and")+".")
		}
		if len(pr.cond.plan) > 0 && (e.kind != "acute" && chance(n.r, 0.6)) {
			s = append(s, n.fill(pick(n.r, pr.cond.plan), pr))
		}
		items = append(items, strings.Join(nonEmpty(s), " "))
	}

	var hm []string
	for _, im := range e.shots {
		hm = append(hm, fmt.Sprintf("%s administered today in the %s; tolerated well.", capitalize(im.v.name), im.site.display))
	}
	if p.smoking == 2 && !inpatient {
		hm = append(hm, n.rep.Replace("Tobacco use: counseled on cessation for 5 minutes; {he} is contemplating quitting and was offered nicotine replacement."))
	}
	if e.snoring {
		hm = append(hm, "Reports loud snoring and daytime fatigue; possible obstructive sleep apnea. Sleep study ordered.")
	}
	if e.kind == "checkup" {
		switch {
		case p.gender == "female" && n.age >= 50 && n.age < 75:
			hm = append(hm, "Screening mammogram ordered; colonoscopy is up to date.")
		case n.age >= 45 && n.age < 76:
			hm = append(hm, "Colorectal cancer screening discussed; FIT kit provided.")
		default:
			hm = append(hm, "Age-appropriate screening reviewed.")
		}
	}
	if len(hm) > 0 {
		items = append(items, "Health maintenance: "+strings.Join(hm, " "))
	}

	if len(items) == 0 {
		items = append(items, "Healthy adult; no active problems.")
	}
	for i, it := range items {
		if n.style == styleTerse {
			n.line(fmt.Sprintf("# %s", it))
		} else {
			n.line(fmt.Sprintf("%d. %s", i+1, it))
		}
	}
	if inpatient {
		return
	}

	// Follow-up and return precautions.
	var close []string
	switch {
	case e.kind == "acute" && e.class == "EMER":
		close = append(close, fmt.Sprintf("Follow up with %s in 1 week.", p.gp.display()))
	case e.kind == "acute":
		close = append(close, "Follow up as needed or at the next scheduled visit.")
	case len(n.existing)+len(n.newChronic) >= 2:
		close = append(close, "Return to clinic in "+pick(n.r, []string{"3 months", "4 months", "6 months"})+".")
	default:
		close = append(close, "Return to clinic in "+pick(n.r, []string{"6 months", "one year"})+".")
	}
	if a := e.acute; a != nil && len(a.cond.returnIf) > 0 {
		close = append(close, n.fill(pick(n.r, a.cond.returnIf), a))
	} else {
		var withReturns []*problem
		for _, pr := range n.existing {
			if len(pr.cond.returnIf) > 0 {
				withReturns = append(withReturns, pr)
			}
		}
		if len(withReturns) > 0 {
			pr := pick(n.r, withReturns)
			close = append(close, n.fill(pick(n.r, pr.cond.returnIf), pr))
		}
	}
	var generic []string
	for _, g := range genericReturns {
		if g.symptom == "" || !n.positives[g.symptom] {
			generic = append(generic, g.text)
		}
	}
	close = append(close, n.rep.Replace(pick(n.r, generic)))
	n.line(strings.Join(nonEmpty(close), " "))
}

// officialName is the patient's full name as printed on a note header.
func (p *patient) officialName() string {
	return strings.Join(strings.Fields(p.given.name+" "+p.middle+" "+p.family), " ")
}

// title is the courtesy title and family name, e.g. Ms. Garcia.
func (p *patient) title() string {
	if p.gender == "male" {
		return "Mr. " + p.family
	}
	return "Ms. " + p.family
}

// ageArticle returns the indefinite article for an age said aloud: "an 82-year-old".
func ageArticle(age int) string {
	if age == 11 || age == 18 || age/10 == 8 || age == 8 {
		return "an"
	}
	return "a"
}

func problemNames(list []*problem) []string {
	var out []string
	for _, pr := range list {
		out = append(out, pr.cond.name)
	}
	return out
}

// join lists items in prose: "a", "a and b", "a, b, and c".
func join(items []string, conj string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	case 2:
		return items[0] + " " + conj + " " + items[1]
	}
	return strings.Join(items[:len(items)-1], ", ") + ", " + conj + " " + items[len(items)-1]
}

func nonEmpty(xs []string) []string {
	out := xs[:0:0]
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}
