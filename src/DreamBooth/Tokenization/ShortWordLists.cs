namespace DreamBooth.Tokenization;

/// <summary>
/// Short strings an identifier must not be: common English words and abbreviations of up to three letters (an
/// identifier with a strong prior meaning leaks that meaning into the subject, the paper's argument against "a xxy5syt00
/// dog"-style strings and common words alike), and offensive ones. Hand-written because no word-frequency package is
/// available offline; it covers the frequent short words, not the whole dictionary.
/// </summary>
public static class ShortWordLists
{
    /// <summary>Common English words and abbreviations of 1–3 letters (lowercase).</summary>
    public static IReadOnlySet<string> Common { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "a", "i", "o", "x",
        "ad", "ah", "am", "an", "as", "at", "aw", "ax", "be", "bi", "by", "do", "eh", "el", "em", "en", "er", "ex", "go", "ha",
        "he", "hi", "hm", "ho", "id", "if", "in", "is", "it", "la", "lo", "ma", "me", "mi", "mo", "mr", "ms", "mu", "my", "no",
        "nu", "of", "oh", "ok", "on", "or", "ow", "ox", "pa", "pi", "re", "so", "ta", "to", "tv", "uh", "um", "up", "us", "vs",
        "we", "ya", "ye", "yo", "uk", "eu", "un", "pc", "dj", "uv", "gb", "mb", "kg", "km", "cm", "mm", "ml", "am", "pm", "hr",
        "ace", "act", "add", "ado", "age", "ago", "aid", "aim", "air", "all", "and", "ant", "any", "ape", "app", "apt", "arc",
        "are", "ark", "arm", "art", "ash", "ask", "ate", "awe", "axe", "bad", "bag", "ban", "bar", "bat", "bay", "bed", "bee",
        "beg", "bet", "bid", "big", "bin", "bit", "bob", "bog", "boo", "bow", "box", "boy", "bra", "bud", "bug", "bum", "bun",
        "bus", "but", "buy", "bye", "cab", "can", "cap", "car", "cat", "cow", "coy", "cry", "cub", "cue", "cup", "cut", "dad",
        "dam", "day", "den", "dew", "did", "die", "dig", "dim", "din", "dip", "doc", "doe", "dog", "don", "dot", "dry", "dub",
        "due", "dug", "duo", "dye", "ear", "eat", "ebb", "egg", "ego", "eke", "elf", "elk", "elm", "emu", "end", "era", "eve",
        "ewe", "eye", "fad", "fan", "far", "fat", "fax", "fed", "fee", "few", "fig", "fin", "fir", "fit", "fix", "flu", "fly",
        "foe", "fog", "for", "fox", "fry", "fun", "fur", "gag", "gal", "gap", "gas", "gel", "gem", "get", "gig", "gin", "god",
        "got", "gum", "gun", "gut", "guy", "gym", "had", "ham", "has", "hat", "hay", "hem", "hen", "her", "hey", "hid", "him",
        "hip", "his", "hit", "hob", "hog", "hop", "hot", "how", "hub", "hue", "hug", "hum", "hut", "ice", "icy", "ill", "imp",
        "ink", "inn", "ion", "its", "ivy", "jab", "jam", "jar", "jaw", "jay", "jet", "job", "jog", "joy", "jug", "key", "kid",
        "kin", "kit", "lab", "lad", "lag", "lap", "law", "lay", "led", "leg", "let", "lid", "lie", "lip", "lit", "log", "lot",
        "low", "mad", "man", "map", "mat", "maw", "may", "men", "met", "mid", "mix", "mob", "mom", "mop", "mud", "mug", "mum",
        "nab", "nag", "nap", "net", "new", "nil", "nip", "nod", "nor", "not", "now", "nun", "nut", "oak", "oar", "oat", "odd",
        "ode", "off", "oft", "oil", "old", "one", "opt", "orb", "ore", "our", "out", "owe", "owl", "own", "pad", "pal", "pan",
        "par", "pat", "paw", "pay", "pea", "peg", "pen", "pep", "per", "pet", "pew", "pie", "pig", "pin", "pit", "ply", "pod",
        "pop", "pot", "pro", "pry", "pub", "pug", "pun", "pup", "put", "rag", "ram", "ran", "rap", "rat", "raw", "ray", "red",
        "ref", "rib", "rid", "rig", "rim", "rip", "rob", "rod", "roe", "rot", "row", "rub", "rue", "rug", "rum", "run", "rut",
        "rye", "sad", "sag", "sap", "sat", "saw", "say", "sea", "see", "set", "sew", "she", "shy", "sin", "sip", "sir", "sis",
        "sit", "six", "ski", "sky", "sly", "sob", "sod", "son", "sow", "soy", "spa", "spy", "sub", "sue", "sum", "sun", "sup",
        "tab", "tag", "tan", "tap", "tar", "tax", "tea", "ted", "tee", "ten", "the", "thy", "tic", "tie", "tin", "tip", "toe",
        "tom", "ton", "too", "top", "tot", "tow", "toy", "try", "tub", "tug", "two", "urn", "use", "van", "vat", "vet", "via",
        "vie", "vow", "wad", "wag", "war", "was", "wax", "way", "web", "wed", "wee", "wet", "who", "why", "wig", "win", "wit",
        "woe", "wok", "won", "woo", "wow", "yak", "yam", "yap", "yaw", "yea", "yen", "yes", "yet", "yew", "you", "zap", "zen",
        "zip", "zoo",
        "abc", "bbc", "cbs", "cnn", "nba", "nfl", "nhl", "mlb", "usa", "ufc", "wwe", "dvd", "pdf", "ceo", "cto", "diy", "faq",
        "gps", "lol", "omg", "btw", "fyi", "asap", "vip", "atm", "ufo", "nyc", "la", "sf", "dc", "nasa", "ios", "mac", "win",
        "png", "jpg", "gif", "mp", "hd", "uhd", "vr", "ar", "ai", "ml", "api", "url", "www", "com", "org", "net", "edu", "gov",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat",
        "sun", "mrs", "dr", "st", "rd", "th", "nd", "jr", "sr", "etc", "inc", "ltd", "co", "ft", "lb", "oz", "min", "max", "avg",
    };

    /// <summary>Offensive strings (slurs, profanity and their usual abbreviations) never suggested as identifiers.</summary>
    public static IReadOnlySet<string> Offensive { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "ass", "fck", "fuk", "fuc", "fu", "stfu", "wtf", "jap", "fag", "nig", "kkk", "cum", "sex", "xxx", "tit", "nsfw", "porn",
        "dyk", "gay", "homo", "coon", "spic", "wop", "kyk", "chink", "paki", "raghead", "hoe", "pus", "poo", "pee", "sht", "btch",
        "bch", "dmn", "dik", "dck", "cok", "cck", "twat", "puta", "wank", "nazi", "ss", "isis", "milf", "dildo", "smd", "gtfo",
        "kys", "rape", "ho", "fap",
    };
}
