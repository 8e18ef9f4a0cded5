using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Humpback.IO;
using Humpback.Prompts;
using Parquet;
using Parquet.Schema;

namespace Humpback.Data.World;

/// <summary>Sizes of a generated world.</summary>
public sealed record WorldSize(int SeedPerSkill = 120, int JudgeExamples = 160, int WebEntries = 1600, int EvalPerSkill = 40, int PretrainRepeats = 6)
{
    public static WorldSize Mini => new();
    public static WorldSize Smoke => new(SeedPerSkill: 20, JudgeExamples: 30, WebEntries: 120, EvalPerSkill: 6, PretrainRepeats: 1);
}

/// <summary>Paths of a generated world's files (all in the real data layouts).</summary>
public sealed record WorldFiles(string Dir)
{
    /// <summary>Plain-text pre-training corpus, documents separated by blank lines.</summary>
    public string Pretrain => Path.Combine(Dir, "pretrain.txt");
    /// <summary>Gold seed in oasst1's Parquet layout.</summary>
    public string Oasst => Path.Combine(Dir, "oasst1", "oasst1-train.parquet");
    /// <summary>Unlabelled web corpus in C4's json.gz layout (text, timestamp, url).</summary>
    public string C4 => Path.Combine(Dir, "c4", "c4-train.00000-of-00001.json.gz");
    /// <summary>Hidden labels of the web corpus: one JSON line per url {url, label: good|bad, kind, skill}.</summary>
    public string Labels => Path.Combine(Dir, "c4-labels.jsonl");
    /// <summary>Held-out evaluation: one JSON line per question {id, skill, in_seed, instruction, answer, output (the gold answer text)}.</summary>
    public string Eval => Path.Combine(Dir, "eval.jsonl");
}

/// <summary>
/// The built-in world: a deterministic generator of every input a Humpback run needs, small enough that a model
/// trained in minutes on 2 CPU cores learns it (docs/world.md explains the design).
/// <list type="bullet">
/// <item>pre-training text: facts of the fictional knowledge skills, generic prose, and web noise (navigation, adverts, forum chatter);</item>
/// <item>a gold seed (oasst1 layout) teaching the seed skills and a judge skill: rating (instruction, answer) pairs with
/// the paper's curation prompt — this is where M0's ability to rate comes from;</item>
/// <item>a web corpus (C4 layout) mixing good answers of the web-only skills with noise and wrong answers, with hidden labels;</item>
/// <item>a held-out evaluation set with a checker per skill.</item>
/// </list>
/// </summary>
public static class WorldGenerator
{
    /// <summary>Bumped whenever the generated files change, so run folders regenerate their world.</summary>
    public const int Version = 6;

    private static readonly string[] NavItems = ["Home", "About us", "Products", "Contact", "Login", "Sign up", "Privacy policy", "Terms of use", "Sitemap", "Careers", "Blog", "FAQ", "Cart", "Help"];
    private static readonly string[] Products = ["garden hoses", "running shoes", "coffee makers", "phone cases", "desk lamps", "winter coats", "board games", "yoga mats"];
    private static readonly string[] Cities = ["Marrow", "Silvane", "Dunmere", "Vantry", "Ashcombe", "Bellwyn", "Corvale", "Westreach"];
    private static readonly string[] Subjects = ["The old baker", "A quiet neighbour", "The river guide", "My cousin", "The town council", "A traveling musician", "The librarian", "Our teacher"];
    private static readonly string[] Verbs = ["walked to", "talked about", "painted", "repaired", "visited", "wrote a letter about", "dreamed of", "laughed at"];
    private static readonly string[] Objects = ["the market", "a wooden bridge", "the harbour", "an old castle", "the village square", "a small boat", "the mountain road", "the library"];
    private static readonly string[] Endings = ["before the sun went down.", "on a rainy afternoon.", "with great care.", "while the bells rang.", "after a long week.", "in the early morning."];

    public static WorldFiles Generate(string dir, int seed = 1234, WorldSize? size = null)
    {
        size ??= WorldSize.Mini;
        var files = new WorldFiles(dir);
        Directory.CreateDirectory(dir);
        WritePretrain(files.Pretrain, new Random(seed), size);
        WriteSeed(files.Oasst, new Random(seed + 1), size);
        WriteWeb(files.C4, files.Labels, new Random(seed + 2), size);
        WriteEval(files.Eval, new Random(seed + 3), size);
        return files;
    }

    internal static string Navigation(Random r) =>
        string.Join(" | ", Enumerable.Range(0, r.Next(6, 11)).Select(_ => NavItems[r.Next(NavItems.Length)])) +
        $" | Copyright {r.Next(1998, 2024)} All rights reserved";

    internal static string Advert(Random r) =>
        $"Buy now and save {r.Next(2, 9)}0%! Limited offer on {Products[r.Next(Products.Length)]}. Click here to order today, free shipping on all orders over ${r.Next(2, 9)}0.";

    internal static string Forum(Random r) =>
        $"lol i had the same problem with my {Products[r.Next(Products.Length)]} last week. anyone else?? posted by user{r.Next(100, 999)} | reply | quote";

    internal static string Prose(Random r) =>
        $"{Subjects[r.Next(Subjects.Length)]} {Verbs[r.Next(Verbs.Length)]} {Objects[r.Next(Objects.Length)]} in {Cities[r.Next(Cities.Length)]} {Endings[r.Next(Endings.Length)]}";

    /// <summary>A noisy web text of a given kind (navigation, advert, forum, off-topic prose).</summary>
    internal static string Noise(Random r, string kind) => kind switch
    {
        "navigation" => Navigation(r),
        "advert" => Advert(r),
        "forum" => Forum(r),
        _ => Prose(r) + " " + Prose(r),
    };

    private static readonly string[] NoiseKinds = ["navigation", "advert", "forum", "off-topic"];

    private static void WritePretrain(string path, Random r, WorldSize size)
    {
        var sb = new StringBuilder();
        for (int rep = 0; rep < size.PretrainRepeats; rep++)
        {
            // Knowledge of the fictional world, stated in several ways.
            for (int i = 0; i < Skills.Countries.Length; i++)
            {
                string c = Skills.Countries[i], cap = Skills.Capitals[i];
                sb.Append(r.Next(3) switch
                {
                    0 => $"{c} is a small country. The capital of {c} is {cap}. {Prose(r)}",
                    1 => $"Travelers to {c} arrive in {cap}. The capital of {c} is {cap}, a busy city.",
                    _ => $"The capital of {c} is {cap}. {cap} is the largest city of {c}.",
                }).Append("\n\n");
            }
            for (int i = 0; i < Skills.Creatures.Length; i++)
            {
                string cr = Skills.Creatures[i], col = Skills.Colors[i];
                sb.Append(r.Next(2) == 0
                    ? $"The color of a {cr} is {col}. Every {cr} is {col} from head to tail."
                    : $"In the old stories, a {cr} is always {col}. The color of a {cr} is {col}.").Append("\n\n");
            }
            // Generic prose and web noise, as any web crawl has.
            for (int i = 0; i < 120; i++) sb.Append(Prose(r)).Append(' ').Append(Prose(r)).Append("\n\n");
            for (int i = 0; i < 30; i++) sb.Append(Noise(r, NoiseKinds[r.Next(3)])).Append("\n\n");
            // Repeated phrases, as web text has them (quotes, headlines repeated in the body): they make the model learn
            // to copy earlier text, which the backward model needs to turn an answer back into its question.
            for (int i = 0; i < 400; i++)
            {
                string phrase = Skills.RandomPhrase(r);
                sb.Append(r.Next(3) switch
                {
                    0 => $"Say {phrase}. Again: {phrase}.",
                    1 => $"{Skills.SkillItemCapitalise(phrase)} is the topic. The topic is {phrase}.",
                    _ => $"Question: what is {phrase}? The question was about {phrase}.",
                }).Append("\n\n");
            }
            // Words spelled out, so the tokenizer and the model see letters of every word.
            foreach (string w in Skills.Words) sb.Append($"The word {w} is spelled {string.Join(" ", w.ToCharArray())}.\n\n");
            // The rating rubric is ordinary text a web crawl contains; seeing it often keeps the tokenizer's view of
            // it compact, which makes the curation prompt short enough for a small model's context.
            for (int i = 0; i < 4; i++) sb.Append(HumpbackPrompts.CurationPreamble).Append("\n\n");
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>Judge examples: the curation prompt over a seed-skill question with a good answer (5), an off-topic or
    /// wrong answer (2), or web noise (1). The output is "Score: N".</summary>
    private static (string Instruction, string Output) Judge(Random r)
    {
        Skill[] seedSkills = Skills.All.Where(s => s.InSeed && s.Evaluated).ToArray();
        SkillItem item = seedSkills[r.Next(seedSkills.Length)].Sample(r);
        int kind = r.Next(4);
        (string answer, int score) = kind switch
        {
            0 or 1 => (item.Answer, 5),
            2 => (r.Next(2) == 0 ? seedSkills[r.Next(seedSkills.Length)].Sample(r).Answer : item.WrongAnswer, 2),
            _ => (Noise(r, NoiseKinds[r.Next(NoiseKinds.Length)]), 1),
        };
        return (HumpbackPrompts.CurationInstruction(item.Question, answer), $"Score: {score}");
    }

    private sealed class OasstRow
    {
        public string MessageId = "", ParentId = "", Text = "", Role = "", Lang = "en", TreeId = "";
        public bool HasParent;
        public int? Rank;
        public bool Deleted;
    }

    private static void WriteSeed(string path, Random r, WorldSize size)
    {
        var rows = new List<OasstRow>();
        int tree = 0;
        void AddTree(string question, string answer, string lang = "en", string? secondAnswer = null, bool deletedFirst = false)
        {
            string treeId = $"tree-{tree:D6}";
            string root = $"msg-{tree:D6}-0";
            rows.Add(new OasstRow { MessageId = root, Text = question, Role = "prompter", Lang = lang, TreeId = treeId });
            rows.Add(new OasstRow { MessageId = $"msg-{tree:D6}-1", ParentId = root, HasParent = true, Text = answer, Role = "assistant", Lang = lang, TreeId = treeId, Rank = 0, Deleted = deletedFirst });
            if (secondAnswer != null)
                rows.Add(new OasstRow { MessageId = $"msg-{tree:D6}-2", ParentId = root, HasParent = true, Text = secondAnswer, Role = "assistant", Lang = lang, TreeId = treeId, Rank = 1 });
            tree++;
        }
        foreach (Skill s in Skills.All.Where(s => s.InSeed))
        {
            // Six times as many trivia pairs: they carry the copying that the backward model must learn.
            int count = s.Evaluated ? size.SeedPerSkill : 6 * size.SeedPerSkill;
            for (int i = 0; i < count; i++)
            {
                SkillItem item = s.Sample(r);
                // A lower-ranked second reply (ignored by the seed rules) on some trees, as in oasst1.
                AddTree(item.Question, item.Answer, secondAnswer: i % 3 == 0 ? Forum(r) : null);
            }
        }
        for (int i = 0; i < size.JudgeExamples; i++)
        {
            var (instruction, output) = Judge(r);
            AddTree(instruction, output);
        }
        // Rows the seed rules must drop: another language, a deleted reply.
        for (int i = 0; i < Math.Max(2, size.SeedPerSkill / 10); i++)
        {
            AddTree("Was ist die Hauptstadt von Veldoria?", "Die Hauptstadt von Veldoria ist Marrow.", lang: "de");
            SkillItem item = Skills.Get("addition").Sample(r);
            AddTree(item.Question, item.WrongAnswer, deletedFirst: true);
        }
        WriteOasstParquet(path, rows);
    }

    private static void WriteOasstParquet(string path, List<OasstRow> rows)
    {
        var fMessage = new DataField<string>("message_id");
        var fParent = new DataField<string>("parent_id", true);
        var fUser = new DataField<string>("user_id");
        var fCreated = new DataField<string>("created_date");
        var fText = new DataField<string>("text");
        var fRole = new DataField<string>("role");
        var fLang = new DataField<string>("lang");
        var fReviewCount = new DataField<int>("review_count");
        var fReviewResult = new DataField<bool?>("review_result");
        var fDeleted = new DataField<bool>("deleted");
        var fRank = new DataField<int?>("rank");
        var fSynthetic = new DataField<bool>("synthetic");
        var fModel = new DataField<string>("model_name", true);
        var fTree = new DataField<string>("message_tree_id");
        var fState = new DataField<string>("tree_state");
        var schema = new ParquetSchema(fMessage, fParent, fUser, fCreated, fText, fRole, fLang, fReviewCount, fReviewResult, fDeleted, fRank, fSynthetic, fModel, fTree, fState);
        AtomicFile.WriteAsync(path, async stream =>
        {
            await using ParquetWriter writer = await ParquetWriter.CreateAsync(schema, stream);
            using ParquetRowGroupWriter g = writer.CreateRowGroup();
            await g.WriteAsync(fMessage, rows.Select(x => x.MessageId).ToArray());
            await g.WriteAsync(fParent, rows.Select(x => x.HasParent ? x.ParentId : null).ToArray()!);
            await g.WriteAsync(fUser, rows.Select((x, i) => $"user-{i % 97:D3}").ToArray());
            await g.WriteAsync(fCreated, rows.Select(_ => "2023-02-05T12:00:00+00:00").ToArray());
            await g.WriteAsync(fText, rows.Select(x => x.Text).ToArray());
            await g.WriteAsync(fRole, rows.Select(x => x.Role).ToArray());
            await g.WriteAsync(fLang, rows.Select(x => x.Lang).ToArray());
            await g.WriteAsync<int>(fReviewCount, rows.Select(_ => 3).ToArray().AsMemory(), null, null, default);
            await g.WriteAsync<bool>(fReviewResult, rows.Select(_ => (bool?)true).ToArray().AsMemory(), null, null, default);
            await g.WriteAsync<bool>(fDeleted, rows.Select(x => x.Deleted).ToArray().AsMemory(), null, null, default);
            await g.WriteAsync<int>(fRank, rows.Select(x => x.Rank).ToArray().AsMemory(), null, null, default);
            await g.WriteAsync<bool>(fSynthetic, rows.Select(_ => false).ToArray().AsMemory(), null, null, default);
            await g.WriteAsync(fModel, rows.Select(_ => (string?)null).ToArray()!);
            await g.WriteAsync(fTree, rows.Select(x => x.TreeId).ToArray());
            await g.WriteAsync(fState, rows.Select(_ => "ready_for_export").ToArray());
        }).GetAwaiter().GetResult();
    }

    private static void WriteWeb(string path, string labelsPath, Random r, WorldSize size)
    {
        Skill[] webSkills = Skills.All.Where(s => !s.InSeed).ToArray();
        var labels = new StringBuilder();
        var json = new StringBuilder();
        for (int i = 0; i < size.WebEntries; i++)
        {
            double u = r.NextDouble();
            string text, label, kind, skill = "";
            if (u < 0.45)
            {
                SkillItem item = webSkills[r.Next(webSkills.Length)].Sample(r);
                (text, label, kind, skill) = (item.Answer, "good", "answer", item.Skill);
            }
            else if (u < 0.55)
            {
                SkillItem item = webSkills[r.Next(webSkills.Length)].Sample(r);
                (text, label, kind, skill) = (item.WrongAnswer, "bad", "wrong", item.Skill);
            }
            else
            {
                kind = NoiseKinds[r.Next(NoiseKinds.Length)];
                (text, label) = (Noise(r, kind), "bad");
            }
            string url = $"https://web.example/{kind}/{i:D6}";
            string ts = new DateTime(2019, 4, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes(i * 7).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            json.Append(JsonSerializer.Serialize(new { text, timestamp = ts, url })).Append('\n');
            labels.Append(JsonSerializer.Serialize(new { url, label, kind, skill })).Append('\n');
        }
        byte[] raw = Encoding.UTF8.GetBytes(json.ToString());
        AtomicFile.Write(path, s =>
        {
            using var gz = new GZipStream(s, CompressionLevel.Optimal, leaveOpen: true);
            gz.Write(raw);
        });
        AtomicFile.WriteAllText(labelsPath, labels.ToString());
    }

    private static void WriteEval(string path, Random r, WorldSize size)
    {
        var sb = new StringBuilder();
        foreach (Skill s in Skills.All.Where(s => s.Evaluated))
        {
            var seen = new HashSet<string>();
            for (int i = 0, tries = 0; i < size.EvalPerSkill && tries < 1000; tries++)
            {
                SkillItem item = s.Sample(r);
                if (!seen.Add(item.Subject)) continue;
                sb.Append(JsonSerializer.Serialize(new
                {
                    id = $"{s.Name}-{i:D3}", skill = s.Name, in_seed = s.InSeed, instruction = item.Question, answer = item.Value, output = item.Answer,
                })).Append('\n');
                i++;
            }
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }
}
