namespace Humpback.Data;

/// <summary>A run of complete lines from a json-lines file: the bytes [0, Length) of <see cref="Buffer"/>, the
/// first of them line number <see cref="FirstLine"/> (1-based) of the file.</summary>
public readonly record struct LineBlock(byte[] Buffer, int Length, long FirstLine, int LineCount)
{
    /// <summary>Calls <paramref name="onLine"/> with each line (without "\n" or "\r\n") and its line number.</summary>
    public void ForEachLine<TState>(ref TState state, LineAction<TState> onLine)
    {
        ReadOnlySpan<byte> rest = Buffer.AsSpan(0, Length);
        long line = FirstLine;
        while (rest.Length > 0)
        {
            int nl = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> text = nl < 0 ? rest : rest[..nl];
            if (text.Length > 0 && text[^1] == (byte)'\r') text = text[..^1];
            onLine(ref state, text, line);
            line++;
            if (nl < 0) break;
            rest = rest[(nl + 1)..];
        }
    }
}

public delegate void LineAction<TState>(ref TState state, ReadOnlySpan<byte> line, long lineNumber);

/// <summary>Cuts a byte stream into blocks of whole lines of about <c>blockSize</c> bytes (a longer line gets a
/// block of its own). Each block owns a fresh buffer, so blocks can be handed to other threads.</summary>
public sealed class LineBlockReader
{
    private readonly Stream _stream;
    private readonly int _blockSize;
    private byte[] _carry = [];
    private int _carryLength;
    private long _nextLine = 1;
    private bool _eof;

    public LineBlockReader(Stream stream, int blockSize = 1 << 20)
    {
        _stream = stream;
        _blockSize = blockSize;
    }

    /// <summary>Bytes read from the (decompressed) stream so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>True when the last line of the stream had no terminating newline (a truncated file, often).</summary>
    public bool LastLineUnterminated { get; private set; }

    public bool TryRead(out LineBlock block)
    {
        block = default;
        if (_eof && _carryLength == 0) return false;
        byte[] buf = new byte[Math.Max(_blockSize, _carryLength * 2)];
        _carry.AsSpan(0, _carryLength).CopyTo(buf);
        int filled = _carryLength;
        int searchFrom = _carryLength;
        _carryLength = 0;
        while (true)
        {
            while (!_eof && filled < buf.Length)
            {
                int n = _stream.Read(buf, filled, buf.Length - filled);
                if (n == 0) _eof = true;
                filled += n;
                BytesRead += n;
            }
            int last = buf.AsSpan(searchFrom, filled - searchFrom).LastIndexOf((byte)'\n');
            if (last >= 0)
            {
                int end = searchFrom + last + 1;
                _carryLength = filled - end;
                if (_carry.Length < _carryLength) _carry = new byte[Math.Max(_carryLength, 1 << 16)];
                buf.AsSpan(end, _carryLength).CopyTo(_carry);
                int lines = buf.AsSpan(0, end).Count((byte)'\n');
                block = new LineBlock(buf, end, _nextLine, lines);
                _nextLine += lines;
                return true;
            }
            if (_eof)
            {
                if (filled == 0) return false;
                LastLineUnterminated = true;
                block = new LineBlock(buf, filled, _nextLine, 1);
                _nextLine++;
                return true;
            }
            // One line longer than the buffer: grow and keep reading.
            searchFrom = filled;
            Array.Resize(ref buf, buf.Length * 2);
        }
    }
}
