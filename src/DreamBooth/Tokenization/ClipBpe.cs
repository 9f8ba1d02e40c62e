using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace DreamBooth.Tokenization;

/// <summary>
/// CLIP's byte-level BPE model: <c>vocab.json</c> (token → id) and <c>merges.txt</c> (merge rules by rank), applied to
/// one pre-tokenized piece at a time. A piece becomes its UTF-8 bytes in the <see cref="ByteLevelAlphabet"/>, the last
/// one carrying the end-of-word suffix <c>&lt;/w&gt;</c>; then the adjacent pair with the lowest merge rank is merged
/// everywhere (left to right, non-overlapping) until no pair has a rank.
/// The merge loop is written by hand rather than taken from Microsoft.ML.Tokenizers' BpeTokenizer so that it follows
/// transformers' slow CLIPTokenizer exactly (its merge-file reading, the suffix on the last byte only, the literal
/// special tokens that bypass BPE) and works on interned symbol ids with a per-piece cache.
/// Thread-safe after construction.
/// </summary>
internal sealed class ClipBpe
{
    /// <summary>End-of-word suffix carried by the last symbol of every piece.</summary>
    public const string EndOfWord = "</w>";

    /// <summary>
    /// transformers' CLIPTokenizer reads at most 49152 − 256 − 2 merge lines after the header (CLIP's vocabulary budget);
    /// later lines are ignored, as upstream.
    /// </summary>
    public const int MaxMerges = 49152 - 256 - 2;

    /// <summary>Pieces that bypass BPE and map to themselves (CLIPTokenizer seeds its BPE cache with them).</summary>
    private static readonly string[] LiteralPieces = ["<|startoftext|>", "<|endoftext|>"];

    private const int CacheLimit = 1 << 16;
    /// <summary>Largest vocab.json or merges.txt accepted (CLIP's are 0.9 MB and 0.5 MB; 250k-token vocabularies ~10 MB).</summary>
    public const long MaxFileBytes = 32L << 20;

    /// <summary>Most tokens a vocab.json may hold (CLIP has 49,408).</summary>
    public const int MaxVocabSize = 1_000_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, string> _idToToken;
    private readonly List<string> _symbols = new();
    private readonly Dictionary<string, int> _symbolIds = new(StringComparer.Ordinal);
    private readonly Dictionary<long, (int Rank, int Merged)> _merges = new();
    private readonly int[] _byteSymbol = new int[256];
    private readonly int[] _byteSymbolEnd = new int[256];
    private readonly Dictionary<string, int> _literalSymbols = new(StringComparer.Ordinal);
    private readonly int[] _symbolToId;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private ClipBpe(Dictionary<string, int> vocab, IReadOnlyList<(string First, string Second, int Line)> merges)
    {
        _vocab = vocab;
        _idToToken = new Dictionary<int, string>(vocab.Count);
        foreach (var (token, id) in vocab) _idToToken[id] = token; // a duplicated id keeps the last token, like Python's dict inversion

        for (int b = 0; b < 256; b++)
        {
            string c = ByteLevelAlphabet.ByteToChar[b].ToString();
            _byteSymbol[b] = Intern(c);
            _byteSymbolEnd[b] = Intern(c + EndOfWord);
        }
        foreach (var literal in LiteralPieces) _literalSymbols[literal] = Intern(literal);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (first, second, _) = merges[rank];
            int a = Intern(first), b = Intern(second);
            _merges[Key(a, b)] = (rank, Intern(first + second)); // a repeated pair keeps its last rank, like dict(zip(...))
        }
        _symbolToId = new int[_symbols.Count];
        for (int s = 0; s < _symbols.Count; s++) _symbolToId[s] = vocab.TryGetValue(_symbols[s], out int id) ? id : -1;
    }

    /// <summary>Number of entries in vocab.json.</summary>
    public int VocabSize => _vocab.Count;

    /// <summary>Number of merge rules in use.</summary>
    public int MergeCount { get; private init; }

    /// <summary>The vocabulary (token string → id).</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>The id of a vocabulary token, or null.</summary>
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <summary>The vocabulary token with this id, or null.</summary>
    public string? IdToToken(int id) => _idToToken.TryGetValue(id, out var token) ? token : null;

    /// <summary>Loads <paramref name="vocabPath"/> and <paramref name="mergesPath"/>; bad files give a one-line error naming the file.</summary>
    public static ClipBpe Load(string vocabPath, string mergesPath)
    {
        var vocab = ReadVocab(vocabPath);
        var merges = ReadMerges(mergesPath);
        return new ClipBpe(vocab, merges) { MergeCount = merges.Count };
    }

    /// <summary>Appends the BPE tokens of one piece: their strings and vocabulary ids (−1 when a token is not in the vocabulary).</summary>
    public void Encode(string piece, List<string>? tokens, List<int>? ids)
    {
        var symbols = _cache.TryGetValue(piece, out var cached) ? cached : _cache.Count < CacheLimit ? _cache.GetOrAdd(piece, Merge) : Merge(piece);
        foreach (int s in symbols)
        {
            tokens?.Add(_symbols[s]);
            ids?.Add(_symbolToId[s]);
        }
    }

    private int[] Merge(string piece)
    {
        if (_literalSymbols.TryGetValue(piece, out int literal)) return [literal];
        var bytes = Encoding.UTF8.GetBytes(piece);
        var word = new List<int>(bytes.Length);
        for (int i = 0; i < bytes.Length; i++) word.Add(i == bytes.Length - 1 ? _byteSymbolEnd[bytes[i]] : _byteSymbol[bytes[i]]);

        var merged = new List<int>(word.Count);
        while (word.Count > 1)
        {
            int bestRank = int.MaxValue, first = -1, second = -1, result = -1;
            for (int i = 0; i + 1 < word.Count; i++)
                if (_merges.TryGetValue(Key(word[i], word[i + 1]), out var m) && m.Rank < bestRank)
                    (bestRank, first, second, result) = (m.Rank, word[i], word[i + 1], m.Merged);
            if (result < 0) break;

            merged.Clear();
            for (int i = 0; i < word.Count; i++)
            {
                if (i + 1 < word.Count && word[i] == first && word[i + 1] == second) { merged.Add(result); i++; }
                else merged.Add(word[i]);
            }
            (word, merged) = (merged, word);
        }
        return word.ToArray();
    }

    private int Intern(string symbol)
    {
        if (_symbolIds.TryGetValue(symbol, out int id)) return id;
        id = _symbols.Count;
        _symbols.Add(symbol);
        _symbolIds.Add(symbol, id);
        return id;
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    private static Dictionary<string, int> ReadVocab(string path)
    {
        var bytes = ReadFile(path);
        int bom = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        if (!System.Text.Unicode.Utf8.IsValid(bytes.AsSpan(bom))) throw new DreamBoothException($"{path}: not valid UTF-8 text");
        var vocab = new Dictionary<string, int>(capacity: 50_000, StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(bytes.AsSpan(bom), new JsonReaderOptions { MaxDepth = 4 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new DreamBoothException($"{path}: expected a JSON object mapping tokens to ids");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                string token = reader.GetString()!;
                reader.Read();
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id) || id < 0)
                    throw new DreamBoothException($"{path}: token {Quote(token)} has id {Describe(ref reader)}, expected a non-negative integer (line {LineOf(bytes, bom + reader.TokenStartIndex)})");
                vocab[token] = id; // a repeated key keeps its last id, like Python's json.load
                if (vocab.Count > MaxVocabSize) throw new DreamBoothException($"{path}: more than {MaxVocabSize} tokens; not a CLIP vocabulary");
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
                throw new DreamBoothException($"{path}: not valid JSON (unexpected content after the token map)");
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{path}: not valid JSON ({e.Message.Split('\n')[0].Trim()})");
        }
        catch (InvalidOperationException)
        {
            throw new DreamBoothException($"{path}: {IO.ConfigJson.UnreadableStringMessage}");
        }
        if (vocab.Count == 0) throw new DreamBoothException($"{path}: the vocabulary is empty");
        return vocab;
    }

    /// <summary>
    /// Reads merges like transformers' CLIPTokenizer: strip the file, split into lines, skip the first line (the
    /// <c>#version</c> header, skipped whatever it holds, as upstream) and take up to <see cref="MaxMerges"/> lines,
    /// each exactly two space-separated symbols.
    /// </summary>
    private static List<(string First, string Second, int Line)> ReadMerges(string path)
    {
        string text;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(ReadFile(path)); }
        catch (DecoderFallbackException) { throw new DreamBoothException($"{path}: not valid UTF-8 text"); }
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        text = text.Replace("\r\n", "\n").Replace('\r', '\n'); // Python's universal newlines
        int lineOffset = 0;
        int lead = 0;
        while (lead < text.Length && PythonText.IsSpace(text[lead])) { if (text[lead] == '\n') lineOffset++; lead++; }
        var lines = PythonText.Strip(text).Split('\n');
        if (lines.Length < 2 || (lines.Length == 2 && lines[1].Length == 0))
            throw new DreamBoothException($"{path}: no merge rules after the header line");

        int count = Math.Min(lines.Length - 1, MaxMerges);
        var merges = new List<(string, string, int)>(count);
        for (int i = 1; i <= count; i++)
        {
            var parts = PythonText.Split(lines[i]);
            int lineNumber = i + 1 + lineOffset;
            if (parts.Count != 2)
                throw new DreamBoothException($"{path}: line {lineNumber}: expected two symbols separated by a space, got {Quote(lines[i])}");
            merges.Add((parts[0], parts[1], lineNumber));
        }
        return merges;
    }

    private static byte[] ReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new DreamBoothException($"{path}: file not found");
            if (info.Length > MaxFileBytes) throw new DreamBoothException($"{path}: {info.Length} bytes is too large for a tokenizer file (limit {MaxFileBytes})");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DreamBoothException($"{path}: cannot read ({e.Message})");
        }
    }

    private static string Describe(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.String => Quote(reader.GetString() ?? ""),
        JsonTokenType.Number => Encoding.UTF8.GetString(reader.ValueSpan),
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "a list",
        _ => reader.TokenType.ToString().ToLowerInvariant(),
    };

    private static int LineOf(byte[] bytes, long index)
    {
        int line = 1;
        for (long i = 0; i < index && i < bytes.Length; i++) if (bytes[i] == '\n') line++;
        return line;
    }

    private static string Quote(string s) => "'" + (s.Length > 60 ? s[..60] + "…" : s).Replace("\n", "\\n") + "'";
}
