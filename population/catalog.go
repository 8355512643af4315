package population

// Code systems the generated resources use.
const (
	systemLOINC    = "http://loinc.org"
	systemSNOMED   = "http://snomed.info/sct"
	systemICD10    = "http://hl7.org/fhir/sid/icd-10"
	systemUCUM     = "http://unitsofmeasure.org"
	systemATC      = "http://www.whocc.no/atc"
	systemActCode  = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemObsCat   = "http://terminology.hl7.org/CodeSystem/observation-category"
	systemDICOM    = "http://dicom.nema.org/resources/ontology/DCM"
	systemV20203   = "http://terminology.hl7.org/CodeSystem/v2-0203"
	systemFRV20203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
)

// Identity status of a patient's INS, as FR Core records it: an
// extension on Patient (IdentityReliabilityURL, sub-extension
// "identityStatus") whose coding is also set as a meta.tag, so that
// searches can filter on it with _tag=<IdentityStatusSystem>|VALI.
const (
	IdentityReliabilityURL = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
	IdentityStatusSystem   = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
)

// identityStatuses are the INS identity statuses, most identities being
// validated (VALI).
// Only a validated identity carries its INS (a provisional one has not
// been checked against an identity document, so the INS is withheld).
var identityStatuses = []struct{ Code, Display string }{
	{"VALI", "Identité validée"},
	{"VALI", "Identité validée"},
	{"VALI", "Identité validée"},
	{"VALI", "Identité validée"},
	{"PROV", "Identité provisoire"},
}

type coding struct{ System, Code, Display string }

// specialty is a medical specialty: the SNOMED CT code of the
// PractitionerRole and the kind of encounter it mostly runs.
var specialties = []coding{
	{systemSNOMED, "394814009", "General practice"},
	{systemSNOMED, "394814009", "General practice"},
	{systemSNOMED, "394579002", "Cardiology"},
	{systemSNOMED, "394583002", "Endocrinology"},
	{systemSNOMED, "394914008", "Radiology"},
	{systemSNOMED, "394591006", "Neurology"},
	{systemSNOMED, "394589003", "Nephrology"},
}

// condition is a diagnosis with its SNOMED CT and ICD-10 codes and the
// medication (ATC) usually prescribed for it.
type condition struct {
	SNOMED, ICD10, Display string
	Medication             coding
	Dosage                 string
}

var conditions = []condition{
	{"44054006", "E11", "Diabetes mellitus type 2", coding{systemATC, "A10BA02", "metformine"}, "1 comprimé de 1000 mg matin et soir"},
	{"38341003", "I10", "Hypertensive disorder", coding{systemATC, "C09AA05", "ramipril"}, "1 comprimé de 5 mg le matin"},
	{"55822004", "E78.5", "Hyperlipidemia", coding{systemATC, "C10AA05", "atorvastatine"}, "1 comprimé de 20 mg le soir"},
	{"195967001", "J45", "Asthma", coding{systemATC, "R03AC02", "salbutamol"}, "2 bouffées si besoin"},
	{"13645005", "J44", "Chronic obstructive lung disease", coding{systemATC, "R03BB04", "tiotropium"}, "1 inhalation par jour"},
	{"49436004", "I48", "Atrial fibrillation", coding{systemATC, "B01AF01", "rivaroxaban"}, "1 comprimé de 20 mg au dîner"},
	{"35489007", "F32", "Depressive disorder", coding{systemATC, "N06AB06", "sertraline"}, "1 comprimé de 50 mg le matin"},
	{"709044004", "N18", "Chronic kidney disease", coding{systemATC, "C08CA01", "amlodipine"}, "1 comprimé de 5 mg le matin"},
	{"84114007", "I50", "Heart failure", coding{systemATC, "C03CA01", "furosémide"}, "1 comprimé de 40 mg le matin"},
	{"46635009", "E10", "Diabetes mellitus type 1", coding{systemATC, "A10AE04", "insuline glargine"}, "20 UI en sous-cutané le soir"},
}

// vital is an observation with a single quantity: LOINC code, UCUM unit,
// category and the range values are drawn from.
type vital struct {
	Code, Display, Unit, UCUM, Category string
	Low, High                           float64
	Decimals                            int
}

// Observation kinds; bloodPressure is the panel with two components.
const bloodPressure = -1

var vitals = []vital{
	{"8867-4", "Heart rate", "beats/minute", "/min", "vital-signs", 52, 110, 0},
	{"29463-7", "Body weight", "kg", "kg", "vital-signs", 45, 120, 1},
	{"39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", "vital-signs", 18, 40, 1},
	{"8302-2", "Body height", "cm", "cm", "vital-signs", 150, 195, 0},
	{"8310-5", "Body temperature", "Cel", "Cel", "vital-signs", 36.1, 39.5, 1},
	{"2708-6", "Oxygen saturation in Arterial blood", "%", "%", "vital-signs", 88, 100, 0},
	{"2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "mg/dL", "laboratory", 70, 250, 0},
	{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", "laboratory", 4.8, 11, 1},
}

// observationKinds lists what an encounter may measure: indexes into
// vitals, and bloodPressure for the panel.
var observationKinds = []int{0, 1, 2, 3, 4, 5, 6, 7, bloodPressure}

// encounterClass is an Encounter.class code (v3 ActCode), weighted by
// repetition: teleconsultations (VR) and ambulatory visits dominate.
var encounterClasses = []coding{
	{systemActCode, "VR", "virtual"},
	{systemActCode, "VR", "virtual"},
	{systemActCode, "VR", "virtual"},
	{systemActCode, "AMB", "ambulatory"},
	{systemActCode, "AMB", "ambulatory"},
	{systemActCode, "HH", "home health"},
	{systemActCode, "IMP", "inpatient encounter"},
}

// imagingProcedure is an imaging ServiceRequest code and the modality of
// the ImagingStudy that fulfils it.
type imagingProcedure struct {
	Code, Display, Modality, ModalityDisplay, BodySite, BodySiteDisplay string
}

var imagingProcedures = []imagingProcedure{
	{"399208008", "Plain chest X-ray", "CR", "Computed Radiography", "51185008", "Thoracic structure"},
	{"77477000", "Computerized axial tomography", "CT", "Computed Tomography", "69536005", "Head structure"},
	{"113091000", "Magnetic resonance imaging", "MR", "Magnetic Resonance", "421060004", "Structure of vertebral column"},
	{"16310003", "Diagnostic ultrasonography", "US", "Ultrasound", "818983003", "Abdomen"},
}

// teleconsultation is the ServiceRequest code of a teleconsultation.
var teleconsultation = coding{systemSNOMED, "448337001", "Telemedicine consultation with patient"}

// consultation is the service of an in-person appointment.
var consultation = coding{systemSNOMED, "11429006", "Consultation"}
