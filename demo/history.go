package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// This file holds the clinical story of a patient: problems, allergies, visits,
// measurements, prescriptions and immunizations, decided before any JSON is written.

// eligible reports whether c can occur in this patient.
func (p *patient) eligible(c *condition) bool {
	if c.sex != "" && c.sex != p.gender {
		return false
	}
	if p.age < c.minAge || c.maxAge > 0 && p.age > c.maxAge {
		return false
	}
	switch c.key {
	case "t2dm":
		return !p.has("prediabetes")
	case "prediabetes":
		return !p.has("t2dm")
	case "copd":
		return p.smoking > 0
	}
	return true
}

// has reports whether the patient has, or arrives with, a problem with the
// condition key.
func (p *patient) has(key string) bool {
	for _, list := range [][]*problem{p.baseline, p.problems} {
		for _, pr := range list {
			if pr.cond.key == key {
				return true
			}
		}
	}
	return false
}

// pickCondition draws one eligible condition of the wanted kind, weighted by
// prevalence, skipping those the patient already has; nil when none is left.
func (p *patient) pickCondition(r *rand.Rand, chronic bool, setting string) *condition {
	var cands []*condition
	total := 0
	for _, c := range conditions {
		if c.chronic != chronic || !p.eligible(c) || chronic && p.has(c.key) {
			continue
		}
		if setting != "" && !slices.Contains(c.setting, setting) {
			continue
		}
		cands = append(cands, c)
		total += c.weight
	}
	if total == 0 {
		return nil
	}
	x := r.IntN(total)
	for _, c := range cands {
		if x < c.weight {
			return c
		}
		x -= c.weight
	}
	return cands[len(cands)-1]
}

// chooseChronic picks the long-standing problems the patient arrives with.
// They are attached to the first encounter later, in history.
func (p *patient) chooseChronic(r *rand.Rand) {
	var weights []int
	switch {
	case p.age < 40:
		weights = []int{40, 35, 20, 5}
	case p.age < 65:
		weights = []int{15, 30, 30, 20, 5}
	default:
		weights = []int{5, 20, 30, 30, 15}
	}
	n := weighted(r, weights)
	for range n {
		c := p.pickCondition(r, true, "")
		if c == nil {
			break
		}
		p.baseline = append(p.baseline, &problem{cond: c})
	}
}

func (p *patient) body(r *rand.Rand) {
	if p.gender == "male" {
		p.heightCM = uniform(r, 163, 192)
	} else {
		p.heightCM = uniform(r, 151, 176)
	}
	p.heightCM = math.Round(p.heightCM*10) / 10
	bmi := uniform(r, 19.5, 29.5)
	switch {
	case p.has("obesity"):
		bmi = uniform(r, 30.5, 41)
	case p.has("t2dm") || p.has("prediabetes") || p.has("osa"):
		bmi = uniform(r, 25.5, 29.8)
	}
	h := p.heightCM / 100
	p.weightKG = bmi * h * h

	if p.has("htn") {
		p.sbp, p.dbp = between(r, 126, 152), between(r, 76, 94)
	} else {
		p.sbp, p.dbp = between(r, 104, 130), between(r, 62, 82)
	}
	p.hr = between(r, 58, 88)
	if p.has("afib") {
		p.hr = between(r, 72, 98)
	}
}

func (p *patient) chooseAllergies(r *rand.Rand) {
	n := weighted(r, []int{60, 30, 10})
	for i, k := range r.Perm(len(allergens))[:n] {
		a := allergens[k]
		pa := &patientAllergy{
			n:         i + 1,
			id:        fmt.Sprintf("allergy-%s-%02d", p.num, i+1),
			a:         a,
			reaction:  reactions[pick(r, a.reactions)],
			onsetYear: between(r, p.birth.Year()+2, epoch.Year()-3),
		}
		pa.criticality = "low"
		if pa.reaction.severity == "severe" {
			pa.criticality = "high"
		}
		p.allergies = append(p.allergies, pa)
	}
}

// allergicToPenicillin reports whether penicillin-class antibiotics must be avoided.
func (p *patient) allergicToPenicillin() bool {
	for _, a := range p.allergies {
		if a.a.penicil {
			return true
		}
	}
	return false
}

// canTake reports whether d may be prescribed given allergies, kidney and
// heart disease, anticoagulation, and the medications already active.
func (p *patient) canTake(d *drug) bool {
	for _, a := range p.allergies {
		if a.a.blocks == d.name || a.a.penicil && d.penicil {
			return false
		}
	}
	if d.class == "nsaid" && (p.has("ckd3") || p.has("hf") || p.has("afib") || p.has("cad")) {
		return false
	}
	for _, rx := range p.prescriptions {
		if rx.end.IsZero() && rx.drug.class == d.class {
			return false
		}
	}
	return true
}

// history lays out the encounters and everything that happens at them.
func (p *patient) history(r *rand.Rand, f *facilities, n int) {
	gaps := make([]int, n)
	total := 0
	for i := 1; i < n; i++ {
		gaps[i] = between(r, 35, 210)
		total += gaps[i]
	}
	day := epoch.AddDate(0, 0, -total-between(r, 12, 90))

	for i := range n {
		day = day.AddDate(0, 0, gaps[i])
		e := &encounter{n: i + 1, id: fmt.Sprintf("enc-%s-%02d", p.num, i+1), class: "AMB", kind: "followup"}
		var acute *condition
		switch {
		case i == 0:
			e.kind = "checkup"
		case chance(r, 0.4):
			setting := "AMB"
			switch x := r.IntN(100); {
			case x < 15:
				setting = "EMER"
			case x < 22:
				setting = "IMP"
			}
			if acute = p.pickCondition(r, false, setting); acute == nil {
				acute = p.pickCondition(r, false, "AMB")
			}
			if acute != nil {
				e.kind = "acute"
				e.class = setting
				if !slices.Contains(acute.setting, setting) {
					e.class = acute.setting[0]
				}
			}
		case len(p.baseline) == 0 || chance(r, 0.2):
			e.kind = "checkup"
		}
		p.schedule(r, f, e, day)
		p.encounters = append(p.encounters, e)
		if i == 0 {
			p.dated(r, e.start)
		}

		if i == 0 {
			for _, pr := range p.baseline {
				p.record(r, e, pr, true)
			}
		} else if e.kind != "acute" && chance(r, 0.12) {
			if c := p.pickCondition(r, true, ""); c != nil {
				p.record(r, e, &problem{cond: c}, false)
			}
		}
		if acute != nil {
			pr := &problem{cond: acute, days: between(r, 1, 5)}
			p.record(r, e, pr, false)
			e.acute = pr
		}
		p.measure(r, e)
	}
	p.vaccinate(r)
}

// schedule sets the time, place and clinician of an encounter on the given day.
func (p *patient) schedule(r *rand.Rand, f *facilities, e *encounter, day time.Time) {
	base := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, zone)
	switch e.class {
	case "AMB":
		e.start = base.Add(8*time.Hour + time.Duration(between(r, 0, 16))*30*time.Minute)
		e.end = e.start.Add(time.Duration(between(r, 20, 45)) * time.Minute)
		e.org = p.org
		e.loc = f.clinicLoc[p.org]
		e.prac = p.gp
		if chance(r, 0.2) {
			e.prac = pick(r, f.staffOf(p.org))
		}
		e.typ = encFollowUp
		switch e.kind {
		case "checkup":
			e.typ = encCheckup
		case "acute":
			e.typ = encSymptom
		}
	case "EMER":
		e.start = base.Add(time.Duration(between(r, 0, 23*60+59)) * time.Minute)
		e.end = e.start.Add(time.Duration(between(r, 120, 380)) * time.Minute)
		e.org, e.loc, e.typ = f.hospital, f.ed, encER
		e.prac = f.staffOf(f.hospital)[r.IntN(2)]
	case "IMP":
		e.start = base.Add(time.Duration(between(r, 0, 23*60+59)) * time.Minute)
		discharge := base.AddDate(0, 0, between(r, 2, 4))
		e.end = discharge.Add(time.Duration(between(r, 10*60, 15*60)) * time.Minute)
		e.org, e.loc, e.typ = f.hospital, f.ward, encAdmit
		e.prac = f.staffOf(f.hospital)[2+r.IntN(2)]
	}
	e.start = e.start.Add(time.Duration(r.IntN(60)) * time.Second)
	e.end = e.end.Add(time.Duration(r.IntN(60)) * time.Second)
}

// record attaches a problem to the encounter where it is first recorded and
// writes the prescriptions that go with it. existing marks long-standing
// problems found at the first visit, whose medications are continued.
func (p *patient) record(r *rand.Rand, e *encounter, pr *problem, existing bool) {
	pr.n = len(p.problems) + 1
	pr.id = fmt.Sprintf("cond-%s-%02d", p.num, pr.n)
	pr.enc = e
	c := pr.cond
	switch {
	case existing:
		earliest := p.birth.AddDate(18, 0, 0)
		span := int(e.start.Sub(earliest).Hours()/24) - 90
		back := 90 + r.IntN(max(1, min(span, 15*365)))
		pr.onset = e.start.AddDate(0, 0, -back)
	case c.chronic:
		pr.onset = e.start.AddDate(0, 0, -between(r, 14, 120))
	default:
		pr.onset = e.start.AddDate(0, 0, -pr.days).Add(-time.Duration(between(r, 1, 12)) * time.Hour)
		if end := e.end.AddDate(0, 0, between(r, 6, 14)); end.Before(epoch) {
			pr.abatement = end
		}
	}
	switch {
	case c.key == "pneumonia":
		pr.severity = pick(r, []coding{severityModerate, severitySevere})
	case !c.chronic:
		pr.severity = pick(r, []coding{severityMild, severityModerate})
	case chance(r, 0.4):
		pr.severity = pick(r, []coding{severityMild, severityModerate})
	}
	p.problems = append(p.problems, pr)
	e.recorded = append(e.recorded, pr)
	if !existing {
		// A new diagnosis shows in the measurements that prompted it.
		switch c.key {
		case "htn":
			p.sbp, p.dbp = max(p.sbp, between(r, 138, 152)), max(p.dbp, between(r, 86, 94))
		case "obesity":
			h := p.heightCM / 100
			p.weightKG = max(p.weightKG, uniform(r, 30.6, 33)*h*h)
		}
	}

	var chosen []*drug
	if c.chronic {
		want := 1
		if chance(r, 0.35) {
			want = 2
		}
		for _, k := range r.Perm(len(c.core)) {
			if d := drugByKey[c.core[k]]; len(chosen) == 0 && p.canTake(d) {
				chosen = append(chosen, d)
			}
		}
		for _, k := range r.Perm(len(c.drugs)) {
			d := drugByKey[c.drugs[k]]
			if len(chosen) < want && p.canTake(d) && !slices.ContainsFunc(chosen, func(x *drug) bool { return x.class == d.class }) {
				chosen = append(chosen, d)
			}
		}
	} else {
		if len(c.drugs) > 0 {
			d := drugByKey[pick(r, c.drugs)]
			if d.penicil && p.allergicToPenicillin() && len(c.altDrugs) > 0 {
				d = drugByKey[pick(r, c.altDrugs)]
			}
			if !p.canTake(d) {
				d = drugByKey["acetaminophen325"]
			}
			if p.canTake(d) {
				chosen = append(chosen, d)
			}
		}
		for _, k := range c.adjuncts {
			if d := drugByKey[k]; p.canTake(d) && !slices.Contains(chosen, d) {
				chosen = append(chosen, d)
			}
		}
	}
	for _, d := range chosen {
		rx := &prescription{
			n:       len(p.prescriptions) + 1,
			drug:    d,
			problem: pr,
			enc:     e,
			status:  "active",
		}
		rx.id = fmt.Sprintf("medrx-%s-%02d", p.num, rx.n)
		rx.at = e.start.Add(time.Duration(between(r, 15, 35)) * time.Minute)
		if e.class == "IMP" {
			rx.at = e.end.Add(-time.Duration(between(r, 40, 90)) * time.Minute)
		}
		if !c.chronic {
			rx.days = d.days
			if rx.days == 0 {
				rx.days = 7
			}
			rx.end = rx.at.AddDate(0, 0, rx.days)
			if rx.end.Before(epoch) {
				rx.status = "completed"
			}
		}
		p.prescriptions = append(p.prescriptions, rx)
		e.started = append(e.started, rx)
	}
}

// activeAt returns the patient's problems recorded at or before e that are
// still active when it starts, chronic ones first in order of recording.
func (p *patient) activeAt(e *encounter, chronicOnly bool) []*problem {
	var out []*problem
	for _, pr := range p.problems {
		if pr.enc.n > e.n || !pr.abatement.IsZero() && pr.abatement.Before(e.start) {
			continue
		}
		if chronicOnly && !pr.cond.chronic {
			continue
		}
		out = append(out, pr)
	}
	return out
}

// medsAt returns the long-term prescriptions written before e (or at e when
// e is the first visit, where the existing regimen is recorded).
func (p *patient) medsAt(e *encounter) []*prescription {
	var out []*prescription
	for _, rx := range p.prescriptions {
		if !rx.end.IsZero() {
			continue
		}
		if rx.enc.n < e.n || rx.enc.n == 1 && e.n == 1 {
			out = append(out, rx)
		}
	}
	return out
}

// measure records vitals and laboratory results for an encounter.
func (p *patient) measure(r *rand.Rand, e *encounter) {
	v := vitals{at: e.start.Add(time.Duration(between(r, 4, 14)) * time.Minute)}
	fever := e.acute != nil && e.acute.cond.fever
	v.sbp = p.sbp + between(r, -8, 8)
	v.dbp = p.dbp + between(r, -6, 6)
	v.hr = p.hr + between(r, -6, 6)
	v.temp = uniform(r, 36.4, 37.2)
	if fever {
		v.temp = uniform(r, 38.1, 39.3)
		v.hr += between(r, 10, 22)
	}
	v.temp = math.Round(v.temp*10) / 10
	p.weightKG *= 1 + uniform(r, -0.015, 0.015)
	v.weight = math.Round(p.weightKG*20) / 20 // scales read to 50 g
	h := p.heightCM / 100
	v.bmi = math.Round(v.weight/(h*h)*10) / 10
	if e.kind == "checkup" || e.n == 1 {
		v.height = p.heightCM
	}
	respiratory := e.acute != nil && slices.ContainsFunc(e.acute.cond.symptoms, func(s string) bool {
		return s == "cough" || s == "shortness of breath"
	})
	if e.class != "AMB" || respiratory || p.has("copd") || p.has("hf") {
		v.rr = between(r, 12, 18)
		v.spo2 = between(r, 95, 99)
		if e.acute != nil && e.acute.cond.key == "pneumonia" {
			v.rr, v.spo2 = between(r, 22, 28), between(r, 88, 92)
		}
	}
	e.vitals = v

	want := map[string]bool{}
	planned := e.kind != "acute"
	for _, pr := range p.activeAt(e, true) {
		first := pr.enc == e
		for _, k := range pr.cond.labs {
			switch {
			case !planned:
			case first, pr.cond.key == "t2dm" && k != "creatinine", chance(r, 0.35):
				want[k] = true
			}
		}
	}
	if e.acute != nil {
		for _, k := range e.acute.cond.labs {
			want[k] = true
		}
	}
	for _, rx := range p.medsAt(e) {
		if rx.drug.key == "warfarin5" {
			want["inr"] = true
		}
	}
	if e.kind == "checkup" && len(p.activeAt(e, true)) == 0 {
		if chance(r, 0.5) {
			want["glucose"] = true
		}
		if chance(r, 0.3) {
			for _, k := range []string{"cholesterol", "ldl", "hdl", "triglycerides"} {
				want[k] = true
			}
		}
	}
	for _, k := range labOrder {
		if want[k] {
			e.labs = append(e.labs, p.labResult(r, labs[k], e))
		}
	}
	if e.kind != "acute" && p.has("obesity") && !p.has("osa") && chance(r, 0.3) {
		e.snoring = true
	}
}

// labResult draws a plausible value for test m given the patient's problems.
func (p *patient) labResult(r *rand.Rand, m *measure, e *encounter) labValue {
	lv := labValue{m: m, low: m.low, high: m.high}
	newDx := func(key string) bool {
		return e.n > 1 && slices.ContainsFunc(e.recorded, func(pr *problem) bool { return pr.cond.key == key })
	}
	var v float64
	switch m.key {
	case "hba1c":
		switch {
		case newDx("t2dm"):
			v = uniform(r, 6.6, 8.8)
		case p.has("t2dm"):
			v = uniform(r, 6.2, 9.4)
		case p.has("prediabetes"):
			v = uniform(r, 5.7, 6.4)
		default:
			v = uniform(r, 4.8, 5.6)
		}
	case "glucose":
		switch {
		case newDx("t2dm"):
			v = uniform(r, 130, 220)
		case p.has("t2dm"):
			v = uniform(r, 112, 215)
		case p.has("prediabetes"):
			v = uniform(r, 100, 125)
		default:
			v = uniform(r, 72, 99)
		}
	case "creatinine":
		if p.has("ckd3") {
			v = uniform(r, 1.4, 2.3)
		} else if p.gender == "female" {
			v = uniform(r, 0.58, 1.02)
		} else {
			v = uniform(r, 0.75, 1.25)
		}
	case "cholesterol":
		v = uniform(r, 150, 245)
		if newDx("hld") {
			v = uniform(r, 240, 285)
		}
	case "ldl":
		switch {
		case newDx("hld"):
			v = uniform(r, 162, 198)
		case p.has("cad"):
			v = uniform(r, 52, 108)
		default:
			v = uniform(r, 72, 165)
		}
	case "hdl":
		v = uniform(r, 34, 72)
	case "triglycerides":
		v = uniform(r, 70, 260)
	case "tsh":
		switch {
		case newDx("hypothyroid"):
			v = uniform(r, 5.5, 9.5)
		case p.has("hypothyroid") && chance(r, 0.3):
			v = uniform(r, 4.2, 7.5)
		default:
			v = uniform(r, 0.6, 3.8)
		}
	case "hemoglobin":
		lv.low, lv.high = 12.0, 15.5
		if p.gender == "male" {
			lv.low, lv.high = 13.5, 17.5
		}
		v = uniform(r, lv.low+0.2, lv.high-0.5)
		if p.has("ida") {
			v = uniform(r, lv.low-2.8, lv.low-0.4)
		}
	case "inr":
		v = uniform(r, 1.8, 3.4)
	case "wbc":
		v = uniform(r, 4.8, 9.8)
		if e.acute != nil && e.acute.cond.fever {
			v = uniform(r, 11.6, 17.8)
		}
	}
	scale := math.Pow(10, float64(m.decimals))
	lv.value = math.Round(v*scale) / scale
	return lv
}

// vaccinate gives age-appropriate vaccines at planned clinic visits.
func (p *patient) vaccinate(r *rand.Rand) {
	var visits []*encounter
	for _, e := range p.encounters {
		if e.class == "AMB" && e.kind != "acute" {
			visits = append(visits, e)
		}
	}
	if len(visits) == 0 {
		return
	}
	var eligible []*vaccine
	for _, v := range vaccines {
		if p.age >= v.minAge && (v.maxAge == 0 || p.age <= v.maxAge) {
			eligible = append(eligible, v)
		}
	}
	n := min(between(r, 1, 3), len(eligible))
	for _, k := range r.Perm(len(eligible))[:n] {
		v := eligible[k]
		e := pick(r, visits)
		im := &immunization{
			v:   v,
			enc: e,
			at:  e.start.Add(time.Duration(between(r, 25, 40)) * time.Minute),
			lot: fmt.Sprintf("%s%04d", v.lot, r.IntN(10000)),
		}
		im.expiry = im.at.AddDate(0, between(r, 4, 18), 0)
		im.site = coding{sysActSite, "LA", "left arm"}
		if chance(r, 0.4) {
			im.site = coding{sysActSite, "RA", "right arm"}
		}
		e.shots = append(e.shots, im)
	}
	// Number the doses in the order they appear in the output.
	for _, e := range p.encounters {
		for _, im := range e.shots {
			im.n = len(p.shots) + 1
			im.id = fmt.Sprintf("imm-%s-%02d", p.num, im.n)
			p.shots = append(p.shots, im)
		}
	}
}

// weighted returns an index drawn with the given relative weights.
func weighted(r *rand.Rand, w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	x := r.IntN(total)
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// asciiFold strips the accents and apostrophes used in the name pools, for
// e-mail addresses.
func asciiFold(s string) string {
	return strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "'", "").Replace(s)
}
