package population

// The tables below are the raw material of identities. Family names mix
// very common ones (weighted by repetition in the generator's draw) with
// accented and compound ones, and include several sharing a prefix
// (Dupont, Dupuis, Duprat, Dupré) so that prefix searches such as
// name=dup match a realistic handful of spellings.

var femaleGivenNames = []string{
	"Marie", "Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Sarah",
	"Hélène", "Anaïs", "Zoé", "Noémie", "Élodie", "Céline", "Sophie",
	"Isabelle", "Nathalie", "Françoise", "Monique", "Brigitte", "Joëlle",
	"Maëlle", "Océane", "Clémence", "Agnès", "Bérénice", "Geneviève",
	"Margaux", "Juliette", "Louise", "Jeanne", "Aurélie", "Mélanie", "Gaëlle",
	"Lucie", "Valérie", "Sandrine", "Christiane", "Thérèse", "Eugénie",
}

var maleGivenNames = []string{
	"Jean", "Pierre", "Louis", "Lucas", "Hugo", "Gabriel", "Léo", "Jules",
	"Noël", "Jérôme", "Stéphane", "Frédéric", "Thierry", "Olivier", "Nicolas",
	"François", "Michel", "Philippe", "Alain", "Bernard", "Gaël", "Loïc",
	"Benoît", "Raphaël", "Mathéo", "Théo", "Clément", "Rémi", "Cédric",
	"Antoine", "Étienne", "Joël", "Hervé", "André", "Arnaud", "Sébastien",
	"Maxime", "Julien", "Yannick", "Grégoire",
}

// commonFamilyNames are drawn half of the time, so each appears often.
var commonFamilyNames = []string{
	"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit",
	"Durand", "Leroy", "Moreau", "Dupont", "Dupuis", "Duprat", "Lefèvre",
}

var otherFamilyNames = []string{
	"Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand",
	"Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier",
	"Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand",
	"Gauthier", "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry",
	"Roussel", "Mathieu", "Gautier", "Masson", "Marchand", "Duval", "Denis",
	"Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier",
	"Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet",
	"Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard", "Roche", "Renard",
	"Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger",
	"Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier",
	"Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet",
	"Rolland", "Leclercq", "Guillaume", "Lecomte", "Lopez", "Jean", "Dupré",
	"Guillot", "Hubert", "Berger", "Carpentier", "Sánchez", "Dupuy", "Moulin",
	"Louis", "Deschamps", "Huet", "Vasseur", "Perez", "Boucher", "Fleury",
	"Royer", "Klein", "Jacquet", "Adam", "Paris", "Poirier", "Marty", "Aubry",
	"Guyot", "Carré", "Charles", "Renault", "Charpentier", "Ménard", "Maillard",
	"Baron", "Bertin", "Bailly", "Hervé", "Schneider", "Fernandez", "Le Gall",
	"Collet", "Léger", "Bouvier", "Julien", "Prévost", "Millet", "Perrot",
	"Daniel", "Le Roux", "Cousin", "Germain", "Breton", "Besson", "Langlois",
	"Rémy", "Le Goff", "Pelletier", "Lévêque", "Perrier", "Leblanc", "Barré",
	"Lebrun", "Marchal", "Weber", "Mallet", "Hamon", "Boulanger", "Jacob",
	"Monnier", "Michaud", "Rodriguez", "Guichard", "Gillet", "Étienne",
	"Grondin", "Poulain", "Tessier", "Chevallier", "Collin", "Chauvin",
	"Da Silva", "Bouchet", "Gay", "Lemaître", "Bénard", "Maréchal", "Humbert",
	"Reynaud", "Antoine", "Hoarau", "Perret", "Barthélemy", "Cordier",
	"Pichon", "Lejeune", "Gilbert", "Lamy", "Delaunay", "Pasquier", "Carlier",
	"Laporte", "Saint-Martin", "Castelnau-Béarn",
}

// city is a French commune: its name, postal code and INSEE code (the
// department and commune parts of the NIR's place of birth).
type city struct {
	Name, PostalCode, Department, Commune string
}

var cities = []city{
	{"Paris", "75011", "75", "111"},
	{"Marseille", "13005", "13", "205"},
	{"Lyon", "69003", "69", "383"},
	{"Toulouse", "31000", "31", "555"},
	{"Nice", "06000", "06", "088"},
	{"Nantes", "44000", "44", "109"},
	{"Montpellier", "34000", "34", "172"},
	{"Strasbourg", "67000", "67", "482"},
	{"Bordeaux", "33000", "33", "063"},
	{"Lille", "59000", "59", "350"},
	{"Rennes", "35000", "35", "238"},
	{"Reims", "51100", "51", "454"},
	{"Saint-Étienne", "42000", "42", "218"},
	{"Le Havre", "76600", "76", "351"},
	{"Toulon", "83000", "83", "137"},
	{"Grenoble", "38000", "38", "185"},
	{"Dijon", "21000", "21", "231"},
	{"Angers", "49000", "49", "007"},
	{"Nîmes", "30000", "30", "189"},
	{"Clermont-Ferrand", "63000", "63", "113"},
	{"Besançon", "25000", "25", "056"},
	{"Orléans", "45000", "45", "234"},
	{"Caen", "14000", "14", "118"},
	{"Limoges", "87000", "87", "085"},
	{"Brest", "29200", "29", "019"},
	{"Amiens", "80000", "80", "021"},
	{"Périgueux", "24000", "24", "322"},
	{"Metz", "57000", "57", "463"},
	{"Nancy", "54000", "54", "395"},
	{"Perpignan", "66000", "66", "136"},
	{"Rouen", "76000", "76", "540"},
	{"Poitiers", "86000", "86", "194"},
	{"Pau", "64000", "64", "445"},
	{"Béziers", "34500", "34", "032"},
	{"Chambéry", "73000", "73", "065"},
	{"Ajaccio", "20000", "2A", "004"},
	{"Porto-Vecchio", "20137", "2A", "247"},
	{"Bastia", "20200", "2B", "033"},
	{"Corte", "20250", "2B", "096"},
}

var streetNames = []string{
	"rue de la République", "avenue Jean Jaurès", "rue Victor Hugo",
	"boulevard Gambetta", "place de l'Église", "rue Pasteur",
	"allée des Tilleuls", "chemin du Moulin", "rue du Général de Gaulle",
	"impasse des Lilas", "avenue de la Libération", "rue Émile Zola",
	"quai Saint-Éloi", "rue des Écoles", "boulevard de la Côte",
}
