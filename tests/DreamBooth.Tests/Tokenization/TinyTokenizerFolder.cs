using System.Text.Json;
using DreamBooth.Tokenization;

namespace DreamBooth.Tests.Tokenization;

/// <summary>
/// A small CLIP-style tokenizer folder in a temp directory, laid out like CLIP's: the 256 byte characters, the same
/// with "&lt;/w&gt;", one token per merge (the concatenated pair), then &lt;|startoftext|&gt; and &lt;|endoftext|&gt;.
/// So id 0 is "!", as in CLIP. Files can be overwritten or deleted to make broken folders.
/// </summary>
internal sealed class TinyTokenizerFolder : IDisposable
{
    private TinyTokenizerFolder(string dir) => Dir = dir;

    public string Dir { get; }

    public Dictionary<string, int> Vocab { get; } = new(StringComparer.Ordinal);

    public static TinyTokenizerFolder Create(IReadOnlyList<string>? merges = null, string? tokenizerConfig = null,
        IEnumerable<string>? leaveOutOfVocab = null)
    {
        merges ??= ["t h", "th e</w>", "d o", "do g</w>"];
        var folder = new TinyTokenizerFolder(Directory.CreateTempSubdirectory("tok-").FullName);
        var tokens = new List<string>();
        var alphabet = ByteLevelAlphabet.ByteToChar.OrderBy(c => c).ToList(); // CLIP's order: printable bytes first
        tokens.AddRange(alphabet.Select(c => c.ToString()));
        tokens.AddRange(alphabet.Select(c => c + "</w>"));
        tokens.AddRange(merges.Select(m => m.Replace(" ", "")));
        tokens.Add("<|startoftext|>");
        tokens.Add("<|endoftext|>");
        var excluded = new HashSet<string>(leaveOutOfVocab ?? []);
        foreach (var t in tokens.Where(t => !excluded.Contains(t))) folder.Vocab.TryAdd(t, folder.Vocab.Count);
        folder.Write(ClipTokenizer.VocabFileName, JsonSerializer.Serialize(folder.Vocab));
        folder.Write(ClipTokenizer.MergesFileName, "#version: 0.2\n" + string.Join("\n", merges) + "\n");
        folder.Write(TokenizerConfig.FileName, tokenizerConfig ?? """{"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}""");
        return folder;
    }

    public string PathOf(string name) => Path.Combine(Dir, name);

    public void Write(string name, string content) => File.WriteAllText(PathOf(name), content);

    public void Delete(string name) => File.Delete(PathOf(name));

    public ClipTokenizer Load() => ClipTokenizer.FromPretrained(Dir);

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
