namespace Humpback.Data.World;

/// <summary>
/// The skills of the built-in world. Every skill asks "What is S?" and is answered "S is V." (with a short
/// explanation), so one backward model can learn to turn any answer back into its question by copying S.
/// Seed skills are taught by the gold seed; web skills appear only in the unlabelled web corpus, so a model can
/// learn them only through self-augmentation and self-curation.
/// </summary>
public sealed record Skill(string Name, bool InSeed, Func<Random, SkillItem> Sample, bool Evaluated = true);

/// <summary>One question of a skill: the subject S, the value V, a wrong value for corrupted web text, and the
/// assistant-style answer.</summary>
public sealed record SkillItem(string Skill, string Subject, string Value, string WrongValue, string Explanation)
{
    public string Question => $"What is {Subject}?";

    public string Answer => $"{Capitalise(Subject)} is {Value}. {Explanation}";

    public string WrongAnswer => $"{Capitalise(Subject)} is {WrongValue}. {Explanation}";

    internal static string Capitalise(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}

public static class Skills
{
    // Fictional knowledge: only the pre-training corpus states these facts.
    internal static readonly string[] Countries =
    [
        "Veldoria", "Quintara", "Morvania", "Zelbrook", "Ostrelia", "Pandoro", "Kestavia", "Lumbria", "Tarvonia", "Elsmark",
        "Brinovia", "Carthis", "Doravel", "Fenwick", "Galdora", "Harrowin", "Istria", "Jorvale", "Kalmoor", "Lorwyn",
    ];

    internal static readonly string[] Capitals =
    [
        "Marrow", "Silvane", "Ketterby", "Oakhollow", "Brimstone", "Tessaly", "Dunmere", "Farrowgate", "Pellmoor", "Ravenholt",
        "Sunmarch", "Thistledown", "Umberlee", "Vantry", "Westreach", "Yarrowick", "Zephyrine", "Ashcombe", "Bellwyn", "Corvale",
    ];

    internal static readonly string[] Creatures =
    [
        "zorp", "blimble", "quaffle", "snorkin", "plumbat", "grivet", "wumpet", "frazzle", "mibble", "torvix",
        "glimmet", "yonder", "skubble", "drazzle", "poffin", "krillow", "vexlet", "nubbin", "sprocket", "flindle",
    ];

    internal static readonly string[] Colors =
    [
        "blue", "green", "orange", "purple", "silver", "red", "yellow", "pink", "brown", "gold",
        "violet", "teal", "white", "black", "grey", "amber", "crimson", "ivory", "indigo", "olive",
    ];

    internal static readonly string[] Words =
    [
        "apple", "river", "stone", "cloud", "garden", "window", "candle", "forest", "pepper", "silver", "rabbit", "basket",
        "mirror", "ladder", "pillow", "carpet", "bridge", "orange", "planet", "rocket", "button", "castle", "dragon", "feather",
        "hammer", "island", "jacket", "kettle", "lemon", "meadow", "needle", "oyster", "parrot", "quiver", "ribbon", "saddle",
        "tunnel", "violin", "wallet", "yogurt", "zipper", "anchor", "barrel", "cactus", "dollar", "engine", "falcon", "guitar",
    ];

    private static string NextLetter(char c) => ((char)(c + 1)).ToString();

    // Words of every skill's subjects, for the trivia skill's random subjects.
    private static readonly string[] Bag =
    [
        .. Words, .. Creatures, .. Countries, "plus", "minus", "spelled", "backwards", "letter", "last", "after", "color", "capital",
        "letters", "word", "number", "shape", "name", "size", "sound", "first", "middle", "end", "river", "song", "house",
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24",
    ];

    private static readonly string[] Generic =
    [
        "Many people know this.", "It is a well known fact.", "You can find it in most books.", "Teachers often explain it.",
        "It has been that way for a long time.", "Few people get it wrong.", "It is easy to remember.", "Everyone agrees on it.",
    ];

    /// <summary>A subject of 2–6 random words ("the", "of", "a" sprinkled in): nothing to memorise, so a backward model
    /// trained on these learns to copy the subject of an answer into its question — the skill self-augmentation needs.</summary>
    internal static string RandomPhrase(Random r) => RandomSubject(r);

    internal static string SkillItemCapitalise(string s) => SkillItem.Capitalise(s);

    private static string RandomSubject(Random r)
    {
        int n = r.Next(2, 7);
        var parts = new List<string>();
        if (r.Next(2) == 0) parts.Add("the");
        for (int i = 0; i < n; i++)
        {
            parts.Add(Bag[r.Next(Bag.Length)]);
            if (i + 1 < n && r.Next(4) == 0) parts.Add(r.Next(2) == 0 ? "of" : "a");
        }
        return string.Join(" ", parts);
    }

    public static readonly Skill[] All =
    [
        new("addition", true, r =>
        {
            int a = r.Next(0, 20), b = r.Next(0, 20);
            return new SkillItem("addition", $"{a} plus {b}", $"{a + b}", $"{a + b + r.Next(1, 9)}",
                $"Adding {b} to {a} gives {a + b}.");
        }),
        new("capital", true, r =>
        {
            int i = r.Next(Countries.Length);
            return new SkillItem("capital", $"the capital of {Countries[i]}", Capitals[i], Capitals[(i + 1 + r.Next(Capitals.Length - 1)) % Capitals.Length],
                $"{Capitals[i]} is the largest city of {Countries[i]}.");
        }),
        new("uppercase", true, r =>
        {
            string w = Words[r.Next(Words.Length)];
            return new SkillItem("uppercase", $"{w} in capital letters", w.ToUpperInvariant(), Words[r.Next(Words.Length)].ToUpperInvariant(),
                $"Every letter of {w} is written as a capital.");
        }),
        new("next-letter", true, r =>
        {
            char c = (char)('a' + r.Next(0, 25));
            return new SkillItem("next-letter", $"the letter after {c}", NextLetter(c), ((char)('a' + r.Next(0, 26))).ToString(),
                $"In the alphabet, {c} is followed by {NextLetter(c)}.");
        }),
        new("trivia", true, r =>
        {
            string subject = RandomSubject(r);
            string value = Bag[r.Next(Bag.Length)];
            // The explanation never repeats the subject: the only place to copy it from is the answer's first sentence,
            // as in the web answers the backward model will see.
            return new SkillItem("trivia", subject, value, Bag[r.Next(Bag.Length)], Generic[r.Next(Generic.Length)]);
        }, Evaluated: false),
        new("subtraction", false, r =>
        {
            int a = r.Next(5, 25), b = r.Next(0, a + 1);
            return new SkillItem("subtraction", $"{a} minus {b}", $"{a - b}", $"{a - b + r.Next(1, 9)}",
                $"Taking {b} away from {a} leaves {a - b}.");
        }),
        new("color", false, r =>
        {
            int i = r.Next(Creatures.Length);
            return new SkillItem("color", $"the color of a {Creatures[i]}", Colors[i], Colors[(i + 1 + r.Next(Colors.Length - 1)) % Colors.Length],
                $"Every {Creatures[i]} is {Colors[i]} from head to tail.");
        }),
        new("reverse", false, r =>
        {
            string w = Words[r.Next(Words.Length)];
            string rev = new(w.Reverse().ToArray());
            return new SkillItem("reverse", $"{w} spelled backwards", rev, new string(Words[r.Next(Words.Length)].Reverse().ToArray()),
                $"Reading the letters of {w} from the end gives {rev}.");
        }),
        new("last-letter", false, r =>
        {
            string w = Words[r.Next(Words.Length)];
            return new SkillItem("last-letter", $"the last letter of {w}", w[^1].ToString(), ((char)('a' + r.Next(0, 26))).ToString(),
                $"The word {w} ends with {w[^1]}.");
        }),
    ];

    public static Skill Get(string name) => All.FirstOrDefault(s => s.Name == name) ?? throw new ArgumentException($"unknown skill '{name}'");

    /// <summary>The checker of every skill: the response must state the value as a whole word, and the first value
    /// it states must be the right one (so "S is V" passes and "S is W, or maybe V" does not).</summary>
    public static bool Check(string response, string value)
    {
        string[] words = response.Split([' ', '.', ',', '!', '?', '\n', '\t', ':', ';', '"', '\''], StringSplitOptions.RemoveEmptyEntries);
        int isIndex = Array.IndexOf(words, "is");
        if (isIndex >= 0 && isIndex + 1 < words.Length) return words[isIndex + 1] == value;
        return words.Contains(value);
    }
}
