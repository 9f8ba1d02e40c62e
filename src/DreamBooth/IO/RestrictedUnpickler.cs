using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace DreamBooth.IO;

/// <summary>A storage named by a checkpoint's persistent id: its key (file name in the archive), dtype and element count.</summary>
/// <param name="Key">The storage key (<c>data/KEY</c> in a zip checkpoint, a record key in a legacy one).</param>
/// <param name="DType">Safetensors dtype string of the storage class (<c>torch.HalfStorage</c> → F16).</param>
/// <param name="Numel">Number of elements the storage holds.</param>
internal sealed record PickleStorage(string Key, string DType, long Numel);

/// <summary>A tensor rebuilt by <c>torch._utils._rebuild_tensor_v2</c>: a strided view of a storage.</summary>
internal sealed record PickleTensor(PickleStorage Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>A Python dict or OrderedDict read from a pickle: entries in insertion order, a repeated key keeping its first place and last value.</summary>
internal sealed class PickleDict
{
    private readonly List<KeyValuePair<object?, object?>> _entries = new();
    private readonly Dictionary<string, int> _stringKeys = new(StringComparer.Ordinal);

    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => _entries;

    public void Set(object? key, object? value)
    {
        if (key is string s)
        {
            if (_stringKeys.TryGetValue(s, out int i)) { _entries[i] = new(key, value); return; }
            _stringKeys[s] = _entries.Count;
        }
        _entries.Add(new(key, value));
    }

    public object? Get(string key) => _stringKeys.TryGetValue(key, out int i) ? _entries[i].Value : null;
}

/// <summary>
/// A pickle reader that can rebuild a PyTorch state dict and nothing else. Python's unpickler imports and calls whatever
/// a file names (<c>os.system</c>, <c>builtins.eval</c>, any class's <c>__reduce__</c>), which is why pickle checkpoints
/// can run code. This one never imports or calls anything: the only globals it accepts are an allow-list of names that
/// it maps to its own data-building code (<c>collections.OrderedDict</c>, <c>torch._utils._rebuild_tensor_v2</c>,
/// <c>torch._utils._rebuild_parameter</c>, <c>torch.Size</c> and the typed storage classes <c>torch.FloatStorage</c>…);
/// any other global is refused by name the moment it is read, and opcodes that instantiate classes (INST, OBJ, NEWOBJ,
/// NEWOBJ_EX) or use the extension registry are refused too. Written here rather than using TorchSharp.PyBridge's
/// <c>load_py</c>, whose unpickler (Razorvine.Pickle) constructs any registered class and is not restricted to tensors.
/// Handles protocols 2–5 (what <c>torch.save</c> writes); every length is checked against the bytes left before
/// anything is allocated, so a hostile file costs at most a few times its own size.
/// </summary>
internal sealed class RestrictedUnpickler
{
    /// <summary>What an allowed global stands for.</summary>
    private enum Global { OrderedDict, RebuildTensorV2, RebuildParameter, Size, Storage }

    private sealed record GlobalRef(string FullName, Global Kind, string? DType = null);

    private sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    /// <summary>The globals a state dict needs; storage classes map to their safetensors dtype string.</summary>
    private static readonly Dictionary<string, GlobalRef> Allowed = new Dictionary<string, GlobalRef>(StringComparer.Ordinal)
    {
        ["collections.OrderedDict"] = new("collections.OrderedDict", Global.OrderedDict),
        ["torch._utils._rebuild_tensor_v2"] = new("torch._utils._rebuild_tensor_v2", Global.RebuildTensorV2),
        ["torch._utils._rebuild_parameter"] = new("torch._utils._rebuild_parameter", Global.RebuildParameter),
        ["torch.Size"] = new("torch.Size", Global.Size),
    }.Concat(new (string Class, string DType)[]
    {
        ("DoubleStorage", "F64"), ("FloatStorage", "F32"), ("HalfStorage", "F16"), ("BFloat16Storage", "BF16"),
        ("LongStorage", "I64"), ("IntStorage", "I32"), ("ShortStorage", "I16"), ("CharStorage", "I8"),
        ("ByteStorage", "U8"), ("BoolStorage", "BOOL"),
    }.Select(s => KeyValuePair.Create($"torch.{s.Class}", new GlobalRef($"torch.{s.Class}", Global.Storage, s.DType))))
        .ToDictionary(StringComparer.Ordinal);

    /// <summary>The allowed global names, for messages and documentation.</summary>
    public static IReadOnlyCollection<string> AllowedGlobals => Allowed.Keys;

    /// <summary>Largest integer accepted from LONG1/LONG4, in bytes (a state dict needs 8; the legacy magic number 10).</summary>
    private const int MaxLongBytes = 64;

    private readonly ReadOnlyMemory<byte> _data;
    private readonly string _source;
    private readonly Func<object?[], PickleStorage> _persistentLoad;
    private int _pos;

    /// <param name="data">The pickle bytes (possibly followed by more data: <see cref="Position"/> tells where STOP was).</param>
    /// <param name="source">Names the file in errors, e.g. <c>model.bin (archive/data.pkl)</c>.</param>
    /// <param name="persistentLoad">Resolves a persistent id tuple (<c>('storage', storage class, key, location, numel)</c>) to a storage.</param>
    /// <param name="start">Where the pickle starts in <paramref name="data"/>.</param>
    public RestrictedUnpickler(ReadOnlyMemory<byte> data, string source, Func<object?[], PickleStorage> persistentLoad, int start = 0)
    {
        _data = data;
        _source = source;
        _persistentLoad = persistentLoad;
        _pos = start;
    }

    /// <summary>The offset just after the STOP opcode once <see cref="Load()"/> has returned.</summary>
    public int Position => _pos;

    /// <summary>A storage-class global (<c>torch.FloatStorage</c>) as found in a persistent id, or null for anything else.</summary>
    public static string? StorageDType(object? value) => value is GlobalRef { Kind: Global.Storage } g ? g.DType : null;

    /// <summary>A short description of a pickled value's type for error messages.</summary>
    public static string Describe(object? value) => value switch
    {
        null => "None",
        bool => "a bool",
        long or BigInteger => "an integer",
        double => "a float",
        string => "a string",
        byte[] => "bytes",
        object?[] => "a tuple",
        List<object?> => "a list",
        PickleDict => "a dict",
        PickleTensor => "a tensor",
        PickleStorage => "a storage",
        GlobalRef g => g.FullName,
        _ => value.GetType().Name,
    };

    private DreamBoothException Bad(string what) => new($"{_source}: {what}");

    /// <summary>Runs the pickle (see <see cref="Load()"/>) and tells where the bytes after it start.</summary>
    public object? Load(out int end)
    {
        var value = Load();
        end = _pos;
        return value;
    }

    /// <summary>Runs the pickle up to its STOP opcode and returns the value it built.</summary>
    /// <exception cref="DreamBoothException">A refused global or opcode, or a malformed pickle; one line naming the file.</exception>
    public object? Load()
    {
        var stack = new List<object?>();
        var marks = new List<int>();
        var memo = new Dictionary<long, object?>();
        var span = _data.Span;

        object? Pop()
        {
            if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks[^1])) throw Bad($"malformed pickle: stack underflow at byte {_pos - 1}");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        object? Peek() => stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks[^1]) ? throw Bad($"malformed pickle: empty stack at byte {_pos - 1}") : stack[^1];
        List<object?> PopMark()
        {
            if (marks.Count == 0) throw Bad($"malformed pickle: no MARK before byte {_pos - 1}");
            int m = marks[^1];
            marks.RemoveAt(marks.Count - 1);
            var items = stack.GetRange(m, stack.Count - m);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }

        while (true)
        {
            int at = _pos;
            byte op = ReadByte(span);
            switch (op)
            {
                case 0x80: // PROTO
                {
                    byte proto = ReadByte(span);
                    if (proto > 5) throw Bad($"unsupported pickle protocol {proto}");
                    break;
                }
                case 0x95: // FRAME: a length prefix only; the framed opcodes follow inline
                    if (ReadUInt64(span) > (ulong)(span.Length - _pos)) throw Bad($"malformed pickle: frame at byte {at} runs past the end");
                    break;
                case (byte)'.': // STOP
                {
                    var result = Pop();
                    return result;
                }
                case (byte)'(': marks.Add(stack.Count); break; // MARK
                case (byte)'}': stack.Add(new PickleDict()); break; // EMPTY_DICT
                case (byte)']': stack.Add(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': stack.Add(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case (byte)'t': stack.Add(PopMark().ToArray()); break; // TUPLE
                case 0x85: stack.Add(new[] { Pop() }); break; // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); stack.Add(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'l': stack.Add(PopMark()); break; // LIST
                case (byte)'d': // DICT
                {
                    var items = PopMark();
                    if (items.Count % 2 != 0) throw Bad($"malformed pickle: DICT with an odd number of items at byte {at}");
                    var d = new PickleDict();
                    for (int i = 0; i < items.Count; i += 2) d.Set(Key(items[i], at), items[i + 1]);
                    stack.Add(d);
                    break;
                }
                case (byte)'a': { var v = Pop(); AsList(Peek(), at).Add(v); break; } // APPEND
                case (byte)'e': { var items = PopMark(); AsList(Peek(), at).AddRange(items); break; } // APPENDS
                case (byte)'s': { var v = Pop(); var k = Pop(); AsDict(Peek(), at).Set(Key(k, at), v); break; } // SETITEM
                case (byte)'u': // SETITEMS
                {
                    var items = PopMark();
                    if (items.Count % 2 != 0) throw Bad($"malformed pickle: SETITEMS with an odd number of items at byte {at}");
                    var d = AsDict(Peek(), at);
                    for (int i = 0; i < items.Count; i += 2) d.Set(Key(items[i], at), items[i + 1]);
                    break;
                }
                case (byte)'N': stack.Add(null); break; // NONE
                case 0x88: stack.Add(true); break; // NEWTRUE
                case 0x89: stack.Add(false); break; // NEWFALSE
                case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(span, 4))); break; // BININT
                case (byte)'K': stack.Add((long)ReadByte(span)); break; // BININT1
                case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(span, 2))); break; // BININT2
                case 0x8a: stack.Add(ReadLong(span, ReadByte(span), at)); break; // LONG1
                case 0x8b: stack.Add(ReadLong(span, ReadLength(span, 4, at), at)); break; // LONG4
                case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(span, 8))); break; // BINFLOAT
                case (byte)'X': stack.Add(Utf8(Take(span, ReadLength(span, 4, at)), at)); break; // BINUNICODE
                case 0x8c: stack.Add(Utf8(Take(span, ReadByte(span)), at)); break; // SHORT_BINUNICODE
                case 0x8d: stack.Add(Utf8(Take(span, ReadLength(span, 8, at)), at)); break; // BINUNICODE8
                case (byte)'T': stack.Add(Encoding.Latin1.GetString(Take(span, ReadLength(span, 4, at)))); break; // BINSTRING (Python 2 str)
                case (byte)'U': stack.Add(Encoding.Latin1.GetString(Take(span, ReadByte(span)))); break; // SHORT_BINSTRING
                case (byte)'B': stack.Add(Take(span, ReadLength(span, 4, at)).ToArray()); break; // BINBYTES
                case (byte)'C': stack.Add(Take(span, ReadByte(span)).ToArray()); break; // SHORT_BINBYTES
                case 0x8e: stack.Add(Take(span, ReadLength(span, 8, at)).ToArray()); break; // BINBYTES8
                case (byte)'c': // GLOBAL "module\nname\n"
                {
                    var module = Line(span, at);
                    var name = Line(span, at);
                    stack.Add(Resolve(module, name));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop();
                    var module = Pop();
                    if (module is not string m || name is not string n) throw Bad($"malformed pickle: STACK_GLOBAL without module and name strings at byte {at}");
                    stack.Add(Resolve(m, n));
                    break;
                }
                case (byte)'R': // REDUCE
                {
                    var args = Pop();
                    var callable = Pop();
                    stack.Add(Call(callable, args, at));
                    break;
                }
                case (byte)'b': // BUILD
                {
                    var state = Pop();
                    var target = Peek();
                    // OrderedDict state dicts carry a `_metadata` attribute (per-module versions); nothing else may be built.
                    if (target is not PickleDict || state is not (null or PickleDict))
                        throw Bad($"refusing to set the state of {Describe(target)} (BUILD at byte {at}): only tensors and dicts can be rebuilt");
                    break;
                }
                case 0x94: memo[memo.Count] = Peek(); break; // MEMOIZE
                case (byte)'q': memo[ReadByte(span)] = Peek(); break; // BINPUT
                case (byte)'r': memo[ReadLength(span, 4, at)] = Peek(); break; // LONG_BINPUT
                case (byte)'p': memo[ParseIndex(Line(span, at), at)] = Peek(); break; // PUT
                case (byte)'h': stack.Add(Memo(memo, ReadByte(span), at)); break; // BINGET
                case (byte)'j': stack.Add(Memo(memo, ReadLength(span, 4, at), at)); break; // LONG_BINGET
                case (byte)'g': stack.Add(Memo(memo, ParseIndex(Line(span, at), at), at)); break; // GET
                case (byte)'Q': // BINPERSID
                {
                    var pid = Pop();
                    if (pid is not object?[] tuple) throw Bad($"persistent id at byte {at} is {Describe(pid)}, not a tuple");
                    stack.Add(_persistentLoad(tuple));
                    break;
                }
                case (byte)'0': Pop(); break; // POP
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': stack.Add(Peek()); break; // DUP
                case (byte)'i' or (byte)'o' or 0x81 or 0x92:
                    throw Bad($"refusing pickle opcode {OpName(op)} at byte {at}: it instantiates a class, which a tensor state dict never needs");
                case 0x82 or 0x83 or 0x84:
                    throw Bad($"refusing pickle opcode {OpName(op)} at byte {at}: the extension registry names code to import");
                default:
                    throw Bad($"unsupported pickle opcode {OpName(op)} at byte {at} (only what torch.save writes for tensor state dicts is read)");
            }
        }
    }

    private static string OpName(byte op) => op switch
    {
        (byte)'i' => "INST",
        (byte)'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        >= 0x20 and < 0x7f => $"'{(char)op}' (0x{op:x2})",
        _ => $"0x{op:x2}",
    };

    private GlobalRef Resolve(string module, string name)
    {
        var full = $"{module}.{name}";
        if (Allowed.TryGetValue(full, out var g)) return g;
        throw Bad($"refusing pickle global '{Shorten(full)}': only the globals that rebuild tensors are allowed, and unpickling anything else could run code");
    }

    private object? Call(object? callable, object? args, int at)
    {
        if (callable is not GlobalRef g) throw Bad($"refusing to call {Describe(callable)} (REDUCE at byte {at})");
        if (args is not object?[] a) throw Bad($"malformed pickle: arguments of {g.FullName} at byte {at} are {Describe(args)}, not a tuple");
        switch (g.Kind)
        {
            case Global.OrderedDict when a.Length == 0:
                return new PickleDict();
            case Global.Size when a.Length == 1 && a[0] is object?[] dims:
                return dims;
            case Global.RebuildParameter when a.Length == 3 && a[0] is PickleTensor t && a[1] is bool:
                return t;
            case Global.RebuildTensorV2 when a.Length is 6 or 7:
            {
                if (a[0] is not PickleStorage storage) throw Bad($"{g.FullName} at byte {at}: storage argument is {Describe(a[0])}");
                if (a[1] is not long offset || offset < 0) throw Bad($"{g.FullName} at byte {at}: storage offset {Describe(a[1])} is not a non-negative integer");
                var shape = Longs(a[2], g.FullName, "size", at);
                var stride = Longs(a[3], g.FullName, "stride", at);
                if (shape.Length != stride.Length)
                    throw Bad($"{g.FullName} at byte {at}: size has {shape.Length} dimensions but stride has {stride.Length}");
                if (a[4] is not bool) throw Bad($"{g.FullName} at byte {at}: requires_grad is {Describe(a[4])}, not a bool");
                return new PickleTensor(storage, offset, shape, stride);
            }
            default:
                throw Bad($"refusing to call {g.FullName} with {a.Length} argument(s) (REDUCE at byte {at}): not the way torch.save uses it");
        }
    }

    private long[] Longs(object? value, string function, string what, int at)
    {
        if (value is not object?[] items) throw Bad($"{function} at byte {at}: {what} is {Describe(value)}, not a tuple");
        var result = new long[items.Length];
        for (int i = 0; i < items.Length; i++)
            result[i] = items[i] is long v && v >= 0 ? v : throw Bad($"{function} at byte {at}: {what} entry {i} is {Describe(items[i])}, not a non-negative integer");
        return result;
    }

    private object? Key(object? key, int at) => key switch
    {
        null or string or long or bool or double or BigInteger or object?[] or GlobalRef => key,
        _ => throw Bad($"malformed pickle: {Describe(key)} used as a dict key at byte {at}"),
    };

    private List<object?> AsList(object? value, int at) =>
        value as List<object?> ?? throw Bad($"malformed pickle: appending to {Describe(value)} at byte {at}");

    private PickleDict AsDict(object? value, int at) =>
        value as PickleDict ?? throw Bad($"malformed pickle: setting an item of {Describe(value)} at byte {at}");

    private object? Memo(Dictionary<long, object?> memo, long index, int at) =>
        memo.TryGetValue(index, out var v) ? v : throw Bad($"malformed pickle: memo entry {index} read at byte {at} was never stored");

    private byte ReadByte(ReadOnlySpan<byte> span)
    {
        if (_pos >= span.Length) throw Bad($"truncated pickle: ends at byte {span.Length} without a STOP opcode");
        return span[_pos++];
    }

    private ReadOnlySpan<byte> Take(ReadOnlySpan<byte> span, long count)
    {
        if (count < 0 || count > span.Length - _pos) throw Bad($"truncated pickle: {count} bytes needed at byte {_pos}, {span.Length - _pos} left");
        var s = span.Slice(_pos, (int)count);
        _pos += (int)count;
        return s;
    }

    private ulong ReadUInt64(ReadOnlySpan<byte> span) => BinaryPrimitives.ReadUInt64LittleEndian(Take(span, 8));

    // A length field; checked against the bytes left by Take before anything of that size is allocated.
    private long ReadLength(ReadOnlySpan<byte> span, int width, int at)
    {
        ulong v = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Take(span, 4)) : ReadUInt64(span);
        if (v > (ulong)(span.Length - _pos)) throw Bad($"truncated pickle: a length of {v} at byte {at} runs past the end ({span.Length - _pos} bytes left)");
        return (long)v;
    }

    private object ReadLong(ReadOnlySpan<byte> span, long length, int at)
    {
        if (length > MaxLongBytes) throw Bad($"integer of {length} bytes at byte {at} is too large for a tensor checkpoint");
        var bytes = Take(span, length);
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private string Utf8(ReadOnlySpan<byte> bytes, int at)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"malformed pickle: string at byte {at} is not valid UTF-8");
        }
    }

    // A text line (GLOBAL, PUT, GET arguments), at most 256 bytes.
    private string Line(ReadOnlySpan<byte> span, int at)
    {
        int rest = span.Length - _pos;
        int end = span.Slice(_pos, Math.Min(rest, 257)).IndexOf((byte)'\n');
        if (end < 0) throw Bad($"malformed pickle: unterminated text argument at byte {at}");
        var text = Encoding.UTF8.GetString(span.Slice(_pos, end));
        _pos += end + 1;
        return text;
    }

    private long ParseIndex(string text, int at) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, null, out long v) ? v : throw Bad($"malformed pickle: memo index '{Shorten(text)}' at byte {at}");

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";
}
