// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title OrdoStakeTable: the validator registry of an ordo chain.
/// @notice Operators bond ETH with their keys. The table starts permissioned (only operators the
/// owner allow-lists may register); `openRegistration` opens it, one way, to anyone with the
/// minimum stake. Every ordo validator reads the events of finalized L1 blocks and derives the
/// set of each epoch from them (docs/VALIDATORS.md); nothing here decides who validates.
/// @dev Where the L1 has the BLS12-381 precompiles (EIP-2537), `register` verifies the proof of
/// possession itself; otherwise validators verify it and ignore a registration whose proof
/// fails. The stake is ETH: an ordo chain has no token of its own, and ETH needs no token
/// contract or approvals.
contract OrdoStakeTable {
    struct Registration {
        /// The BLS public key, 48 bytes compressed (G1).
        bytes blsKey;
        /// Its proof of possession, 96 bytes compressed (G2): a signature over `blsKey` under
        /// the DST `BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`.
        bytes blsPop;
        /// The ed25519 consensus public key.
        bytes32 consensusKey;
        /// The libp2p peer id (its multihash bytes).
        bytes peerId;
        /// Comma-separated multiaddresses the node listens on.
        string p2pAddresses;
    }

    struct Validator {
        uint256 stake;
        bytes32 consensusKey;
        uint64 registeredBlock;
        /// L1 block of `requestExit`; 0 while bonded.
        uint64 exitBlock;
        bool withdrawn;
        bytes blsKey;
    }

    address public immutable owner;
    uint256 public immutable minStake;
    /// @notice L1 blocks between `requestExit` and `withdraw` (set at deployment from the chain's
    /// epoch length and unbonding epochs: docs/VALIDATORS.md).
    uint64 public immutable unbondingBlocks;
    /// @notice Whether `register` checks the proof of possession (EIP-2537 found at deployment).
    bool public immutable verifiesPop;
    bool public open;
    mapping(address => bool) public allowListed;
    mapping(bytes32 => bool) public blsKeyUsed;
    mapping(bytes32 => bool) public consensusKeyUsed;
    mapping(address => Validator) internal validators;

    event AllowListed(address indexed operator, bool allowed);
    event RegistrationOpened(uint64 l1Block);
    event Registered(
        address indexed operator,
        uint256 stake,
        bytes blsKey,
        bytes blsPop,
        bytes32 consensusKey,
        bytes peerId,
        string p2pAddresses
    );
    event StakeAdded(address indexed operator, uint256 amount, uint256 stake);
    event ExitRequested(address indexed operator, uint64 l1Block);
    event Withdrawn(address indexed operator, uint256 amount);

    error NotOwner();
    error AlreadyOpen();
    error NotAllowListed(address operator);
    error AlreadyRegistered(address operator);
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    error DuplicateBlsKey(bytes blsKey);
    error DuplicateConsensusKey(bytes32 consensusKey);
    error BadKeyEncoding(string what);
    error BadProofOfPossession();
    error NotBonded(address operator);
    error NotExiting(address operator);
    error StillUnbonding(uint64 untilBlock);
    error AlreadyWithdrawn(address operator);
    error TransferFailed();

    // BLS12-381: the base field modulus p and (p - 1) / 2, as 16 high and 32 low bytes.
    uint256 private constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;
    uint256 private constant HALF_HI = 0x0d0088f51cbff34d258dd3db21a5d66b;
    uint256 private constant HALF_LO = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;
    // The negated G1 generator, EIP-2537 encoding (each coordinate 16 zero bytes + 48).
    bytes private constant NEG_G1 =
        hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb00000000000000000000000000000000114d1d6855d545a8aa7d76c8cf2e21f267816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca";
    bytes private constant POP_DST = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    // EIP-2537 precompiles.
    address private constant G1ADD = address(0x0b);
    address private constant G2ADD = address(0x0d);
    address private constant PAIRING = address(0x0f);
    address private constant MAP_FP2_TO_G2 = address(0x11);

    constructor(uint256 minStake_, uint64 unbondingBlocks_, address[] memory allowList) {
        owner = msg.sender;
        minStake = minStake_;
        unbondingBlocks = unbondingBlocks_;
        for (uint256 i = 0; i < allowList.length; i++) {
            allowListed[allowList[i]] = true;
            emit AllowListed(allowList[i], true);
        }
        // G1ADD of two points at infinity answers 128 zero bytes where EIP-2537 is live; an
        // address without code answers nothing.
        (bool ok, bytes memory out) = G1ADD.staticcall(new bytes(256));
        verifiesPop = ok && out.length == 128;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// @notice Allow-lists (or removes) an operator while registration is permissioned.
    function setAllowListed(address operator, bool allowed) external onlyOwner {
        allowListed[operator] = allowed;
        emit AllowListed(operator, allowed);
    }

    /// @notice Opens registration to anyone with the minimum stake. One way.
    function openRegistration() external onlyOwner {
        if (open) revert AlreadyOpen();
        open = true;
        emit RegistrationOpened(uint64(block.number));
    }

    /// @notice Bonds `msg.value` with the keys of `r`. `blsKeyG1` and `blsPopG2` are the same
    /// key and proof uncompressed (EIP-2537 encoding, 128 and 256 bytes), needed only where
    /// `verifiesPop`; elsewhere they may be empty.
    function register(Registration calldata r, bytes calldata blsKeyG1, bytes calldata blsPopG2)
        external
        payable
    {
        if (!open && !allowListed[msg.sender]) revert NotAllowListed(msg.sender);
        if (validators[msg.sender].registeredBlock != 0) revert AlreadyRegistered(msg.sender);
        if (msg.value < minStake) revert StakeBelowMinimum(msg.value, minStake);
        if (r.blsKey.length != 48) revert BadKeyEncoding("blsKey: 48 bytes");
        if (r.blsPop.length != 96) revert BadKeyEncoding("blsPop: 96 bytes");
        bytes32 blsHash = keccak256(r.blsKey);
        if (blsKeyUsed[blsHash]) revert DuplicateBlsKey(r.blsKey);
        if (consensusKeyUsed[r.consensusKey]) revert DuplicateConsensusKey(r.consensusKey);
        if (verifiesPop) {
            checkG1(r.blsKey, blsKeyG1);
            checkG2(r.blsPop, blsPopG2);
            if (!popValid(r.blsKey, blsKeyG1, blsPopG2)) revert BadProofOfPossession();
        }
        blsKeyUsed[blsHash] = true;
        consensusKeyUsed[r.consensusKey] = true;
        validators[msg.sender] = Validator({
            stake: msg.value,
            consensusKey: r.consensusKey,
            registeredBlock: uint64(block.number),
            exitBlock: 0,
            withdrawn: false,
            blsKey: r.blsKey
        });
        emit Registered(msg.sender, msg.value, r.blsKey, r.blsPop, r.consensusKey, r.peerId, r.p2pAddresses);
    }

    /// @notice Adds `msg.value` to a bonded validator's stake (it counts from the next derivation).
    function addStake() external payable {
        Validator storage v = validators[msg.sender];
        if (v.registeredBlock == 0 || v.exitBlock != 0) revert NotBonded(msg.sender);
        v.stake += msg.value;
        emit StakeAdded(msg.sender, msg.value, v.stake);
    }

    /// @notice Starts unbonding: the validator leaves the set at the next epoch the derivation
    /// reaches, and may withdraw `unbondingBlocks` L1 blocks from now.
    function requestExit() external {
        Validator storage v = validators[msg.sender];
        if (v.registeredBlock == 0 || v.exitBlock != 0) revert NotBonded(msg.sender);
        v.exitBlock = uint64(block.number);
        emit ExitRequested(msg.sender, v.exitBlock);
    }

    /// @notice Returns the stake once the unbonding delay has passed.
    function withdraw() external {
        Validator storage v = validators[msg.sender];
        if (v.exitBlock == 0) revert NotExiting(msg.sender);
        if (v.withdrawn) revert AlreadyWithdrawn(msg.sender);
        uint64 until = v.exitBlock + unbondingBlocks;
        if (block.number < until) revert StillUnbonding(until);
        uint256 amount = v.stake;
        v.withdrawn = true;
        v.stake = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// @notice One operator's entry (zeroes for an unknown one).
    function validator(address operator)
        external
        view
        returns (
            uint256 stake,
            bytes32 consensusKey,
            uint64 registeredBlock,
            uint64 exitBlock,
            bool withdrawn,
            bytes memory blsKey
        )
    {
        Validator storage v = validators[operator];
        return (v.stake, v.consensusKey, v.registeredBlock, v.exitBlock, v.withdrawn, v.blsKey);
    }

    // ---- BLS12-381 through EIP-2537 ----

    /// Whether the 48-byte integer `hi ‖ lo` exceeds (p - 1) / 2 (the compressed sign bit).
    function larger(uint256 hi, uint256 lo) private pure returns (bool) {
        return hi > HALF_HI || (hi == HALF_HI && lo > HALF_LO);
    }

    /// An EIP-2537 field element at `at` of `b`: 16 zero bytes, then `hi` (16 bytes) and `lo`
    /// (32 bytes), below p.
    function element(bytes calldata b, uint256 at, string memory what) private pure returns (uint256 hi, uint256 lo) {
        if (bytes16(b[at:at + 16]) != bytes16(0)) revert BadKeyEncoding(what);
        hi = uint128(bytes16(b[at + 16:at + 32]));
        lo = uint256(bytes32(b[at + 32:at + 64]));
        if (hi > P_HI || (hi == P_HI && lo >= P_LO)) revert BadKeyEncoding(what);
    }

    /// The compressed x (`c`, 48 bytes from `at`) without its flags, checked to carry the
    /// compression flag and not the infinity flag; returns x and the sign flag.
    function compressed(bytes calldata c, uint256 at, string memory what)
        private
        pure
        returns (uint256 hi, uint256 lo, bool sign)
    {
        uint8 flags = uint8(c[at]) & 0xe0;
        if (at == 0 && (flags & 0x80 == 0 || flags & 0x40 != 0)) revert BadKeyEncoding(what);
        hi = uint128(bytes16(c[at:at + 16]));
        if (at == 0) hi &= ~(uint256(0xe0) << 120);
        lo = uint256(bytes32(c[at + 16:at + 48]));
        sign = flags & 0x20 != 0;
    }

    /// `g1` (EIP-2537, 128 bytes) is the point `key` (48 bytes compressed) stands for.
    function checkG1(bytes calldata key, bytes calldata g1) private pure {
        if (g1.length != 128) revert BadKeyEncoding("blsKeyG1: 128 bytes");
        (uint256 xh, uint256 xl, bool sign) = compressed(key, 0, "blsKey");
        (uint256 gh, uint256 gl) = element(g1, 0, "blsKeyG1.x");
        (uint256 yh, uint256 yl) = element(g1, 64, "blsKeyG1.y");
        if (xh != gh || xl != gl || larger(yh, yl) != sign) revert BadKeyEncoding("blsKeyG1 is not blsKey");
    }

    /// `g2` (EIP-2537, 256 bytes: x.c0, x.c1, y.c0, y.c1) is the point `sig` (96 bytes
    /// compressed: x.c1 with the flags, then x.c0) stands for.
    function checkG2(bytes calldata sig, bytes calldata g2) private pure {
        if (g2.length != 256) revert BadKeyEncoding("blsPopG2: 256 bytes");
        bool sign = sameX(sig, 0, g2, 64);
        sameX(sig, 48, g2, 0);
        (uint256 y0h, uint256 y0l) = element(g2, 128, "blsPopG2.y");
        (uint256 y1h, uint256 y1l) = element(g2, 192, "blsPopG2.y");
        // The sign of an Fp2 element is that of its c1, or of c0 when c1 is zero.
        bool big = (y1h | y1l) != 0 ? larger(y1h, y1l) : larger(y0h, y0l);
        if (big != sign) revert BadKeyEncoding("blsPopG2 is not blsPop");
    }

    /// The compressed coordinate of `sig` at `at` equals the element of `g2` at `g2At`;
    /// returns the sign flag.
    function sameX(bytes calldata sig, uint256 at, bytes calldata g2, uint256 g2At) private pure returns (bool sign) {
        (uint256 ch, uint256 cl, bool s) = compressed(sig, at, "blsPop");
        (uint256 xh, uint256 xl) = element(g2, g2At, "blsPopG2.x");
        if (xh != ch || xl != cl) revert BadKeyEncoding("blsPopG2 is not blsPop");
        return s;
    }

    /// e(key, H(key)) == e(G1, pop), checked as e(key, H(key)) · e(-G1, pop) == 1.
    function popValid(bytes calldata key, bytes calldata keyG1, bytes calldata popG2) private view returns (bool) {
        bytes memory h = hashToG2(key);
        (bool ok, bytes memory out) = PAIRING.staticcall(abi.encodePacked(keyG1, h, NEG_G1, popG2));
        return ok && out.length == 32 && uint256(bytes32(out)) == 1;
    }

    /// hash_to_curve for G2 (RFC 9380, BLS12381G2_XMD:SHA-256_SSWU_RO_) with the PoP DST.
    function hashToG2(bytes calldata message) private view returns (bytes memory) {
        bytes memory u = expandMessage(message);
        bytes memory q0 = mapToG2(fieldElement(u, 0), fieldElement(u, 64));
        bytes memory q1 = mapToG2(fieldElement(u, 128), fieldElement(u, 192));
        (bool ok, bytes memory sum) = G2ADD.staticcall(abi.encodePacked(q0, q1));
        if (!ok || sum.length != 256) revert BadProofOfPossession();
        return sum;
    }

    /// expand_message_xmd with SHA-256, 256 bytes out.
    function expandMessage(bytes calldata message) private pure returns (bytes memory out) {
        bytes memory dstPrime = abi.encodePacked(POP_DST, uint8(POP_DST.length));
        bytes32 b0 = sha256(abi.encodePacked(bytes32(0), bytes32(0), message, uint16(256), uint8(0), dstPrime));
        bytes32 bi = sha256(abi.encodePacked(b0, uint8(1), dstPrime));
        out = abi.encodePacked(bi);
        for (uint8 i = 2; i <= 8; i++) {
            bi = sha256(abi.encodePacked(b0 ^ bi, i, dstPrime));
            out = abi.encodePacked(out, bi);
        }
    }

    /// 64 bytes of `u` from `at`, reduced mod p by the MODEXP precompile (exponent 1), as an
    /// EIP-2537 field element.
    function fieldElement(bytes memory u, uint256 at) private view returns (bytes memory) {
        bytes memory wide = new bytes(64);
        for (uint256 i = 0; i < 64; i++) {
            wide[i] = u[at + i];
        }
        (bool ok, bytes memory r) = address(0x05).staticcall(
            abi.encodePacked(uint256(64), uint256(1), uint256(48), wide, uint8(1), bytes16(uint128(P_HI)), P_LO)
        );
        if (!ok || r.length != 48) revert BadProofOfPossession();
        return abi.encodePacked(bytes16(0), r);
    }

    function mapToG2(bytes memory c0, bytes memory c1) private view returns (bytes memory) {
        (bool ok, bytes memory p) = MAP_FP2_TO_G2.staticcall(abi.encodePacked(c0, c1));
        if (!ok || p.length != 256) revert BadProofOfPossession();
        return p;
    }
}
